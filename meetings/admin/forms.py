"""The forms an operator fills from a chat user's page: a meeting to schedule, a decline."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from chatusers.models import ChatUser
from meetings.services import REASON_MAX

MEETING_LENGTH = timedelta(minutes=30)
_MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def next_whole_hour(now: datetime | None = None) -> datetime:
    """The next whole hour in the site's time zone: 10:00 at 9:00 sharp, and at 9:01."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class ScheduleForm(forms.Form):
    """Times are read in the site's time zone; the service checks them against now."""

    event_uri = forms.URLField(
        label="Event link",
        max_length=2000,
        assume_scheme="https",
        help_text="The calendar event's http(s) address.",
        widget=forms.URLInput(attrs={"size": 60}),
    )
    start = forms.DateTimeField(widget=_MOMENT, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
    end = forms.DateTimeField(widget=_MOMENT, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
    invitee_email = forms.EmailField(label="Invitee's email", widget=forms.EmailInput(attrs={"size": 40}))

    @classmethod
    def initial_for(cls, chatuser: ChatUser) -> dict[str, object]:
        start = next_whole_hour()
        return {"invitee_email": chatuser.email or "", "start": start, "end": start + MEETING_LENGTH}


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        help_text="Why the chat user declined, as Userbot should record it.",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )
