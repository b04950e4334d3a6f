"""Meetings' part of a chat user's timeline: each meeting scheduled or declined, when asked."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from backoffice.admin_site.dates import exact
from chatusers.models import ChatUser
from chatusers.timeline import TimelineEntry, register_source
from meetings.models import Meeting
from meetings.selectors import meetings_of


def register() -> None:
    register_source("meetings", meeting_entries)


def meeting_entries(chatuser: ChatUser, before: datetime | None, limit: int) -> list[TimelineEntry]:
    """The chat user's meetings, newest first, each linked to its record; one query."""
    return [_entry(meeting) for meeting in meetings_of(chatuser=chatuser, before=before, limit=limit)]


def _entry(meeting: Meeting) -> TimelineEntry:
    state = meeting.get_state_display().lower()
    if meeting.kind == Meeting.Kind.DECLINE:
        title = f"Declined a meeting ({state})"
        detail = meeting.reason
    else:
        when = exact(meeting.start) if meeting.start else "?"
        title = f"Meeting on {when} ({state})"
        detail = f"With {meeting.invitee_email}: {meeting.event_uri}"
    if meeting.error:
        detail = f"{detail}\n{meeting.error}".strip()
    return TimelineEntry(
        at=meeting.created_at,
        kind="meeting",
        title=title,
        detail=detail,
        url=reverse("admin:meetings_meeting_change", args=[meeting.pk]),
        actor=meeting.operator.get_full_name() or meeting.operator.get_username(),
    )
