"""Meetings booked with chat users, and meetings declined: each one an act on Userbot, kept.

Userbot keeps no list of meetings that can be read back (``meetings.schedule`` and
``meetings.decline`` only answer ``{"ok": true}``), so what is kept here is the only
record: what was asked, by whom, what was sent and what Userbot answered. A booking whose
answer was lost is kept as ``unknown`` for a person to settle: ``meetings.schedule`` is not
safe to repeat, so nothing here sends it twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Meeting(models.Model):
    """One meeting scheduled with a chat user, or one declined, as sent to Userbot."""

    class Kind(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        DECLINE = "decline", "Decline"

    class State(models.TextChoices):
        SENDING = "sending", "Sending"
        SCHEDULED = "scheduled", "Scheduled"
        DECLINED = "declined", "Declined"
        UNKNOWN = "unknown", "Unknown: may have been scheduled"
        FAILED = "failed", "Failed"

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    # A chat user deleted later (here or on Userbot) leaves the meeting on record.
    chatuser = models.ForeignKey(
        "chatusers.ChatUser", on_delete=models.SET_NULL, null=True, related_name="+", verbose_name="chat user"
    )
    # Their Userbot id when it was sent, so the record still names them after a deletion.
    chatuser_remote_id = models.CharField("chat user's Userbot id", max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    event_uri = models.URLField("event link", max_length=2000, blank=True)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    invitee_email = models.EmailField(blank=True)
    reason = models.TextField(blank=True)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    sent = models.JSONField("what was sent", default=dict)
    answer = models.JSONField("what Userbot answered", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["chatuser", "-created_at", "-id"], name="meeting_chatuser_newest"),
            models.Index(fields=["state", "-created_at"], name="meeting_state"),
            models.Index(fields=["start"], name="meeting_start"),
        ]

    def __str__(self) -> str:
        # Named by the chat user's Userbot id: a list of meetings need not load each chat user.
        if self.kind == self.Kind.DECLINE:
            return f"Meeting declined by chat user {self.chatuser_remote_id}"
        when = self.start.strftime("%Y-%m-%d %H:%M %Z") if self.start else "?"
        return f"Meeting with chat user {self.chatuser_remote_id} at {when}"
