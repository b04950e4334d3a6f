"""Scheduling a meeting with a chat user, declining one, and settling a booking whose answer
was lost.

Every act is checked first (a refusal sends nothing), written as a ``Meeting`` row before
the request, sent once with the bot's client, kept with what Userbot answered, and written
into the chat user's history. ``meetings.schedule`` is not safe to repeat: a booking whose
answer was lost stays ``unknown`` until an operator settles it; nothing here sends it again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone

from backoffice import audit
from backoffice.admin_site.dates import exact
from backoffice.userbot import api, schema
from backoffice.userbot.codec import Request
from backoffice.userbot.connections import client_for
from backoffice.userbot.errors import PayloadInvalid, TransportError, UserbotError
from backoffice.userbot.once import call_once, not_sent, refused
from chatusers.models import ChatUser
from meetings.models import Meeting

logger = logging.getLogger(__name__)
REASON_MAX = 2000
LOST_BOOKING = "The connection dropped before Userbot answered: the meeting may have been scheduled."
LOST_DECLINE = "The connection dropped before Userbot answered; declining again is safe."
_EVENT_URI = URLValidator(schemes=["http", "https"])


class MeetingRefused(Exception):
    """The meeting cannot be sent as asked; the message says why, in the operator's words."""


def meeting_schedule(
    *,
    chatuser: ChatUser,
    event_uri: str,
    start: datetime,
    end: datetime,
    invitee_email: str,
    operator: Any,
) -> Meeting:
    """Book a meeting with ``chatuser`` on Userbot, once. It ends ``scheduled``, ``failed``
    (refused, or never sent) or ``unknown`` (sent, answer lost: it may have been booked)."""
    event_uri, invitee_email = event_uri.strip(), invitee_email.strip()
    _check_chatuser(chatuser)
    _check_times(start, end)
    try:
        _EVENT_URI(event_uri)
    except ValidationError:
        raise MeetingRefused("The event link must be an http:// or https:// address.") from None
    try:
        validate_email(invitee_email)
    except ValidationError:
        raise MeetingRefused(f"“{invitee_email}” is not a valid email address.") from None
    request = api.meetings_schedule(
        chatuser_id=chatuser.remote_id,
        event_uri=event_uri,
        start_time=wire_time(start),
        end_time=wire_time(end),
        invitee_email=invitee_email,
    )
    _check_contract(request)
    meeting = _kept(
        chatuser,
        operator,
        request,
        kind=Meeting.Kind.SCHEDULE,
        event_uri=event_uri,
        start=start,
        end=end,
        invitee_email=invitee_email,
    )
    return _send(meeting, request, operator)


def meeting_decline(*, chatuser: ChatUser, reason: str, operator: Any) -> Meeting:
    """Tell Userbot that ``chatuser`` declined a meeting, and why. It ends ``declined`` or
    ``failed``; a decline is safe to send again, so a lost answer is a failure to retry."""
    reason = reason.strip()
    _check_chatuser(chatuser)
    if len(reason) > REASON_MAX:
        raise MeetingRefused(f"The reason is {len(reason)} characters long; at most {REASON_MAX} are sent.")
    request = api.meetings_decline(chatuser_id=chatuser.remote_id, reason=reason)
    _check_contract(request)
    meeting = _kept(chatuser, operator, request, kind=Meeting.Kind.DECLINE, reason=reason)
    return _send(meeting, request, operator)


def meeting_settle(*, meeting: Meeting, operator: Any, scheduled: bool) -> Meeting:
    """An operator's word on a booking whose answer was lost, after asking the invitee or
    reading the calendar: it was scheduled, or it was not (and they may book it again)."""
    verdict = "was scheduled" if scheduled else "was not scheduled"
    # A conditional update, so two operators settling at once cannot both win.
    updated = Meeting.objects.filter(pk=meeting.pk, state=Meeting.State.UNKNOWN).update(
        state=Meeting.State.SCHEDULED if scheduled else Meeting.State.FAILED,
        error=f"{LOST_BOOKING} {operator.get_username()} checked: it {verdict}.",
    )
    if updated != 1:
        raise MeetingRefused("Only a meeting that may have been scheduled can be settled.")
    meeting.refresh_from_db()
    audit.record(actor=operator, obj=meeting, action="change", message=f"Settled: it {verdict}.")
    if meeting.chatuser is not None:
        audit.record(
            actor=operator,
            obj=meeting.chatuser,
            action="change",
            message=f"{describe(meeting)}: it {verdict}.",
        )
    return meeting


def wire_time(moment: datetime) -> str:
    """A moment as the wire writes it: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond // 1000:03d}Z"


def _check_chatuser(chatuser: ChatUser) -> None:
    if not chatuser.remote_id:
        raise MeetingRefused(
            f"{chatuser} is not on Userbot yet (no Userbot id): wait for the sync, then try again."
        )


def _check_times(start: datetime, end: datetime) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise MeetingRefused("The start and the end need a time zone.")
    if start <= timezone.now():
        raise MeetingRefused(f"The meeting starts in the past ({exact(start)}).")
    if end <= start:
        raise MeetingRefused(f"The meeting ends ({exact(end)}) before it starts ({exact(start)}).")


def _check_contract(request: Request) -> None:
    """The client would refuse to send a request its schema rejects: say so before a row is kept."""
    try:
        schema.validate_request(request.operation, request.payload)
    except PayloadInvalid as exc:
        problems = "; ".join(f"{name}: {problem}" for name, problem in exc.fields.items()) or exc.message
        raise MeetingRefused(f"Userbot's contract refuses it: {problems}") from None


def _kept(chatuser: ChatUser, operator: Any, request: Request, **fields: Any) -> Meeting:
    """The act's row, written (and committed, outside a transaction) before it is sent, so a
    process that dies mid-request leaves a trace."""
    return Meeting.objects.create(
        bot_id=chatuser.bot_id,
        chatuser=chatuser,
        chatuser_remote_id=chatuser.remote_id,
        operator=operator,
        sent=request.payload,
        **fields,
    )


def _send(meeting: Meeting, request: Request, operator: Any) -> Meeting:
    done = Meeting.State.SCHEDULED if meeting.kind == Meeting.Kind.SCHEDULE else Meeting.State.DECLINED
    try:
        with client_for(meeting.bot) as client:
            client.connect()
            attempt = call_once(client, request)
    except UserbotError as exc:  # the login refused: nothing was sent
        attempt = refused(exc)
    except TransportError as exc:  # no connection: nothing was sent
        attempt = not_sent(exc)
    if attempt.done:
        if not attempt.valid:
            logger.warning("Userbot's answer to %s was not valid: %s", request.operation, attempt.problem)
        # Userbot said 200, so it was done; an answer that is not valid is kept, not trusted.
        _answered(meeting, done, attempt.problem, attempt.answer)
    elif attempt.lost and meeting.kind == Meeting.Kind.SCHEDULE:
        _answered(meeting, Meeting.State.UNKNOWN, LOST_BOOKING)
    elif attempt.lost:
        _answered(meeting, Meeting.State.FAILED, LOST_DECLINE)
    else:
        _answered(meeting, Meeting.State.FAILED, attempt.problem)
    if attempt.lost:
        logger.warning("%s of bot %s: %s", describe(meeting), meeting.bot_id, attempt.problem)
    _into_history(meeting, operator)
    return meeting


def _answered(meeting: Meeting, state: str, error: str, answer: Any = None) -> None:
    meeting.state = state
    meeting.error = error
    meeting.answer = answer
    meeting.answered_at = timezone.now()
    meeting.save(update_fields=["state", "error", "answer", "answered_at"])


def describe(meeting: Meeting) -> str:
    """The act in a line, as the chat user's history and the admin's messages say it."""
    if meeting.kind == Meeting.Kind.DECLINE:
        return f"Meeting declined: “{meeting.reason[:200]}”" if meeting.reason else "Meeting declined"
    assert meeting.start is not None and meeting.end is not None
    return (
        f"Meeting on {exact(meeting.start)} to {exact(meeting.end)} with {meeting.invitee_email}"
        f" ({meeting.event_uri[:200]})"
    )


def _into_history(meeting: Meeting, operator: Any) -> None:
    if meeting.chatuser is None:
        return
    outcome = meeting.get_state_display().lower()
    message = f"{describe(meeting)}: {outcome}" + (f". {meeting.error}" if meeting.error else "")
    audit.record(actor=operator, obj=meeting.chatuser, action="change", message=message)
