"""Meetings against the sandbox: checked before anything is sent, sent once with the exact
payload, a lost answer to a booking kept as unknown and settled by a person, Userbot's
refusals in words, the chat user's history, and the timeline's selector."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from backoffice.userbot.models import Bot
from chatusers.timeline import sources
from meetings import services
from meetings.models import Meeting
from meetings.selectors import meetings_of
from meetings.services import LOST_BOOKING, MeetingRefused
from tests.factories import ChatUserFactory
from tests.meetings_world import (
    LosesTheAnswerToSchedule,
    RefusesBookings,
    booked,
    bot_of,
    chatuser_on,
    frames,
    meetings_sandbox,
    tomorrow_at,
)

pytestmark = pytest.mark.django_db
LINK = "https://calendar.example.com/events/42"


def _history(chatuser) -> list[str]:
    return list(
        LogEntry.objects.filter(object_id=str(chatuser.pk), content_type__model="chatuser")
        .order_by("pk")
        .values_list("change_message", flat=True)
    )


def _schedule(chatuser, operator, **changes):
    values = {
        "chatuser": chatuser,
        "event_uri": LINK,
        "start": tomorrow_at(10),
        "end": tomorrow_at(10) + timedelta(minutes=30),
        "invitee_email": "giulia@example.com",
        "operator": operator,
        **changes,
    }
    return services.meeting_schedule(**values)


def test_a_meeting_is_scheduled_once_with_the_exact_payload_and_kept_with_the_answer(operator):
    with meetings_sandbox() as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))
        start = tomorrow_at(10)

        meeting = _schedule(chatuser, operator, event_uri=f"  {LINK} ")

        payload = {
            "chatuser_id": chatuser.remote_id,
            "event_uri": LINK,
            "start_time": f"{start:%Y-%m-%dT%H}:00:00.000Z",
            "end_time": f"{start:%Y-%m-%dT%H}:30:00.000Z",
            "invitee_email": "giulia@example.com",
        }
        assert frames(sandbox) == [("meetings.schedule", payload)]
        assert booked(sandbox) == [{"kind": "scheduled", **payload}]
    meeting.refresh_from_db()
    assert (meeting.state, meeting.error, meeting.sent, meeting.answer) == (
        "scheduled",
        "",
        payload,
        {"ok": True},
    )
    assert (meeting.kind, meeting.start, meeting.operator) == ("schedule", start, operator)
    assert meeting.answered_at is not None
    (entry,) = _history(chatuser)
    assert entry.startswith("Meeting on ") and entry.endswith(f"with giulia@example.com ({LINK}): scheduled")


def test_a_decline_is_sent_once_with_the_exact_payload(operator):
    with meetings_sandbox() as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))

        meeting = services.meeting_decline(chatuser=chatuser, reason=" Not this month ", operator=operator)

        payload = {"chatuser_id": chatuser.remote_id, "reason": "Not this month"}
        assert frames(sandbox) == [("meetings.decline", payload)]
        assert booked(sandbox) == [{"kind": "declined", **payload}]
    assert (meeting.state, meeting.reason, meeting.answer) == ("declined", "Not this month", {"ok": True})
    assert _history(chatuser) == ["Meeting declined: “Not this month”: declined"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"start": timezone.now() - timedelta(minutes=5)}, "The meeting starts in the past"),
        ({"end": tomorrow_at(9)}, "before it starts"),
        ({"end": tomorrow_at(10)}, "before it starts"),
        ({"invitee_email": "giulia@"}, "“giulia@” is not a valid email address."),
        ({"event_uri": "ftp://calendar.example.com/42"}, "must be an http:// or https:// address"),
        ({"event_uri": "javascript:alert(1)"}, "must be an http:// or https:// address"),
        ({"start": tomorrow_at(10).replace(tzinfo=None)}, "need a time zone"),
        ({"invitee_email": "giulia@localhost"}, "Userbot's contract refuses it: invitee_email"),
    ],
    ids=[
        "past",
        "end before start",
        "no length",
        "bad email",
        "ftp link",
        "script link",
        "naive time",
        "email the contract refuses",
    ],
)
def test_a_meeting_that_fails_a_check_is_refused_in_words_and_nothing_is_sent(operator, changes, words):
    with meetings_sandbox() as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))

        with pytest.raises(MeetingRefused, match=words):
            _schedule(chatuser, operator, **changes)

        assert frames(sandbox) == []
        assert booked(sandbox) == []
    assert not Meeting.objects.exists()
    assert _history(chatuser) == []


def test_a_chat_user_not_on_userbot_yet_is_refused_and_nothing_is_sent(operator):
    with meetings_sandbox() as sandbox:
        chatuser = ChatUserFactory(bot=bot_of(sandbox), remote_id=None, name="New", surname="Person")

        with pytest.raises(MeetingRefused, match="not on Userbot yet"):
            _schedule(chatuser, operator)
        with pytest.raises(MeetingRefused, match="not on Userbot yet"):
            services.meeting_decline(chatuser=chatuser, reason="", operator=operator)

        assert frames(sandbox) == []
    assert not Meeting.objects.exists()


def test_a_booking_whose_answer_is_lost_is_unknown_never_sent_again_and_settled_by_a_person(operator):
    with meetings_sandbox(LosesTheAnswerToSchedule) as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))

        meeting = _schedule(chatuser, operator)

        assert (meeting.state, meeting.error) == ("unknown", LOST_BOOKING)
        assert meeting.get_state_display() == "Unknown: may have been scheduled"
        assert [channel for channel, _ in frames(sandbox)] == ["meetings.schedule"]
        assert len(booked(sandbox)) == 1  # applied, though its answer never came
        settled = services.meeting_settle(meeting=meeting, operator=operator, scheduled=True)
        assert [channel for channel, _ in frames(sandbox)] == ["meetings.schedule"]
    assert settled.state == "scheduled"
    assert settled.error == f"{LOST_BOOKING} operator checked: it was scheduled."
    assert _history(chatuser)[-1].endswith(": it was scheduled.")
    with pytest.raises(MeetingRefused, match="Only a meeting that may have been scheduled"):
        services.meeting_settle(meeting=meeting, operator=operator, scheduled=False)


def test_a_lost_booking_settled_as_not_scheduled_is_failed(operator):
    with meetings_sandbox(LosesTheAnswerToSchedule) as sandbox:
        meeting = _schedule(chatuser_on(sandbox, bot_of(sandbox)), operator)

    settled = services.meeting_settle(meeting=meeting, operator=operator, scheduled=False)

    assert (settled.state, settled.error) == (
        "failed",
        f"{LOST_BOOKING} operator checked: it was not scheduled.",
    )


def test_userbots_400_is_a_failed_meeting_with_its_message_in_words(operator):
    with meetings_sandbox(RefusesBookings) as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))

        meeting = _schedule(chatuser, operator)

        assert len(frames(sandbox)) == 1
        assert booked(sandbox) == []
    assert meeting.state == "failed"
    assert meeting.error == "Userbot refused it: the calendar is full (start_time: no free slot at this time)"
    assert _history(chatuser)[-1].endswith(": failed. " + meeting.error)


def test_userbots_404_for_a_chat_user_it_does_not_know_is_failed_in_words(operator):
    with meetings_sandbox() as sandbox:
        chatuser = ChatUserFactory(bot=bot_of(sandbox), remote_id="gone-42")

        meeting = services.meeting_decline(chatuser=chatuser, reason="busy", operator=operator)

    assert (meeting.state, meeting.error) == ("failed", "Userbot refused it: no chat user gone-42")


def test_a_meeting_that_cannot_reach_userbot_is_failed_not_sent(operator):
    with meetings_sandbox() as sandbox:
        bot = bot_of(sandbox)
        chatuser = chatuser_on(sandbox, bot)
    Bot.objects.filter(pk=bot.pk).update(server_url=sandbox.url)  # the sandbox has stopped

    meeting = _schedule(chatuser, operator)

    assert meeting.state == "failed"
    assert meeting.error.startswith("Not sent: there is no connection to Userbot")


def test_meetings_of_are_newest_first_before_a_moment_in_one_query(operator, django_assert_num_queries):
    first, second = ChatUserFactory(remote_id="u1"), ChatUserFactory(remote_id="u2")
    made = [
        Meeting.objects.create(
            bot_id=chatuser.bot_id,
            chatuser=chatuser,
            chatuser_remote_id=chatuser.remote_id,
            kind="decline",
            operator=operator,
            state="declined",
        )
        for chatuser in (first, second, first, second)
    ]
    for index, meeting in enumerate(made):
        Meeting.objects.filter(pk=meeting.pk).update(created_at=timezone.now() - timedelta(hours=4 - index))
    stamps = dict(Meeting.objects.values_list("pk", "created_at"))

    with django_assert_num_queries(1):
        both = meetings_of(chatuser_ids=[first.pk, second.pk], limit=10)
        names = [(m.chatuser.remote_id, m.operator.username) for m in both]
    with django_assert_num_queries(1):
        older = meetings_of(chatuser=first, before=stamps[made[2].pk], limit=10)

    assert [m.pk for m in both] == [m.pk for m in reversed(made)]
    assert names == [("u2", "operator"), ("u1", "operator"), ("u2", "operator"), ("u1", "operator")]
    assert [m.pk for m in older] == [made[0].pk]
    assert [m.pk for m in meetings_of(chatuser=first, limit=1)] == [made[2].pk]


def test_meetings_are_a_source_of_the_chat_users_timeline(operator):
    chatuser = ChatUserFactory(remote_id="u1")
    Meeting.objects.create(
        bot_id=chatuser.bot_id,
        chatuser=chatuser,
        chatuser_remote_id="u1",
        kind="decline",
        reason="Too busy",
        operator=operator,
        state="declined",
    )

    (entry,) = sources()["meetings"](chatuser, None, 10)

    assert (entry.kind, entry.title, entry.detail, entry.actor) == (
        "meeting",
        "Declined a meeting (declined)",
        "Too busy",
        "operator",
    )
