"""What the back office keeps of live chats: what each operator did in them, and who holds
the one Userbot subscription of each bot.

The chats themselves stay on Userbot (``robin.sessions``, ``robin.session``) and are read
when a page opens; what is kept here is what only this side knows: which operator took a
chat over, handed it back or wrote a reply, and what Userbot answered. A reply whose answer
was lost is kept as ``unknown`` for a person to settle: ``say`` is never sent twice by code.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ChatAction(models.Model):
    """One operator's act in one chat: a takeover, a hand-back or a reply."""

    class Kind(models.TextChoices):
        TAKE_OVER = "take_over", "Took over"
        HAND_BACK = "hand_back", "Handed back to the bot"
        REPLY = "reply", "Replied"

    class State(models.TextChoices):
        PENDING = "pending", "Sending"
        DONE = "done", "Sent"
        UNKNOWN = "unknown", "May not have been sent"
        FAILED = "failed", "Refused by Userbot"
        SETTLED = "settled", "Checked by an operator"

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    session_id = models.CharField("chat id", max_length=64)
    # The chat user's Userbot id, so their history can name the act.
    chatuser_remote_id = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.TextField(blank=True)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The Userbot user the act ran as: the operator's own (their key) or the bot's.
    agent_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    message_id = models.CharField("Userbot message id", max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "chat action"
        ordering = ["-created_at", "-id"]
        permissions = [("answer_chats", "Can take over, answer and hand back live chats")]
        indexes = [
            models.Index(fields=["bot", "session_id", "created_at"], name="chataction_session"),
            # A chat user's acts, newest first: their timeline.
            models.Index(fields=["bot", "chatuser_remote_id", "created_at"], name="chataction_chatuser"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} in chat {self.session_id}"


class ChatFeedLease(models.Model):
    """Which web process holds a bot's chat subscription, until when.

    Taken and renewed with a conditional update that must return one row, so one process at
    a time feeds a bot's watchers, and another takes over once a dead holder's lease ends.
    """

    bot = models.OneToOneField("userbot.Bot", on_delete=models.CASCADE, primary_key=True, related_name="+")
    holder = models.CharField(max_length=128, blank=True)
    until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Chat feed of bot {self.bot_id}: {self.holder or 'nobody'}"
