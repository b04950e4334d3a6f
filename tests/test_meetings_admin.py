"""The meetings' admin pages: the forms from a chat user's page, the list with the unknown
first, settling from the list, and who may do which."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from meetings.admin.forms import next_whole_hour
from meetings.models import Meeting
from tests.factories import ChatUserFactory
from tests.meetings_world import (
    OPERATOR_PERMS,
    LosesTheAnswerToSchedule,
    booked,
    bot_of,
    chatuser_on,
    meetings_sandbox,
    staff,
    tomorrow_at,
)

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _meeting(chatuser, operator, **fields) -> Meeting:
    values = {
        "kind": "schedule",
        "event_uri": "https://calendar.example.com/e/1",
        "start": tomorrow_at(10),
        "end": tomorrow_at(11),
        "invitee_email": "giulia@example.com",
        **fields,
    }
    return Meeting.objects.create(
        bot_id=chatuser.bot_id,
        chatuser=chatuser,
        chatuser_remote_id=chatuser.remote_id,
        operator=operator,
        **values,
    )


def test_the_next_whole_hour_is_after_now_even_on_the_hour():
    moment = timezone.now().replace(minute=0, second=0, microsecond=0)

    assert next_whole_hour(moment) == moment + timedelta(hours=1)
    assert next_whole_hour(moment + timedelta(minutes=1)) == moment + timedelta(hours=1)


def test_the_chat_users_page_links_to_the_forms_and_their_meetings():
    chatuser = ChatUserFactory(remote_id="u1")
    page = _client(staff("ann", *OPERATOR_PERMS)).get(
        reverse("admin:chatusers_chatuser_change", args=[chatuser.pk])
    )

    html = page.content.decode()
    assert reverse("admin:meetings_meeting_schedule", args=[chatuser.pk]) in html
    assert reverse("admin:meetings_meeting_decline", args=[chatuser.pk]) in html
    assert f"/admin/meetings/meeting/?chatuser__id__exact={chatuser.pk}" in html


def test_the_schedule_form_is_prefilled_from_the_chat_user():
    chatuser = ChatUserFactory(remote_id="u1", email="giulia@example.com")
    start = timezone.localtime(next_whole_hour())

    page = _client(staff("ann", *OPERATOR_PERMS)).get(
        reverse("admin:meetings_meeting_schedule", args=[chatuser.pk])
    )

    form = page.context["form"]
    assert form.initial["invitee_email"] == "giulia@example.com"
    assert (form.initial["start"], form.initial["end"]) == (start, start + timedelta(minutes=30))
    assert f'value="{start:%Y-%m-%dT%H:%M}"' in page.content.decode()


def test_scheduling_from_the_form_sends_once_and_lands_in_the_list():
    ann = staff("ann", *OPERATOR_PERMS)
    with meetings_sandbox() as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))
        start = timezone.localtime(tomorrow_at(15))
        data = {
            "event_uri": "https://calendar.example.com/e/7",
            "start": f"{start:%Y-%m-%dT%H:%M}",
            "end": f"{start + timedelta(minutes=45):%Y-%m-%dT%H:%M}",
            "invitee_email": "giulia@example.com",
        }

        answer = _client(ann).post(reverse("admin:meetings_meeting_schedule", args=[chatuser.pk]), data)

        assert len(booked(sandbox)) == 1
    meeting = Meeting.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/admin/meetings/meeting/?chatuser__id__exact={chatuser.pk}"
    assert (meeting.state, meeting.start, meeting.end) == ("scheduled", start, start + timedelta(minutes=45))
    assert LogEntry.objects.filter(object_id=str(meeting.pk), change_message="Schedule: Scheduled").exists()


def test_a_refused_form_shows_the_words_and_sends_nothing():
    ann = staff("ann", *OPERATOR_PERMS)
    with meetings_sandbox() as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))
        data = {
            "event_uri": "https://calendar.example.com/e/7",
            "start": "2020-01-01T10:00",
            "end": "2020-01-01T10:30",
            "invitee_email": "giulia@example.com",
        }

        page = _client(ann).post(reverse("admin:meetings_meeting_schedule", args=[chatuser.pk]), data)

        assert booked(sandbox) == []
    assert page.status_code == 200
    assert "The meeting starts in the past" in page.content.decode()
    assert not Meeting.objects.exists()


def test_the_list_puts_the_unknown_first_with_buttons_that_settle_them():
    ann = staff("ann", *OPERATOR_PERMS)
    chatuser = ChatUserFactory(remote_id="u1")
    done = _meeting(chatuser, ann, state="scheduled")
    unknown = _meeting(chatuser, ann, state="unknown", error="lost")
    Meeting.objects.filter(pk=unknown.pk).update(created_at=timezone.now() - timedelta(days=2))
    client = _client(ann)

    page = client.get(reverse("admin:meetings_meeting_changelist"))

    assert [m.pk for m in page.context["cl"].result_list] == [unknown.pk, done.pk]
    settle = reverse("admin:meetings_meeting_settle", args=[unknown.pk])
    assert page.content.decode().count(f'formaction="{settle}"') == 2
    assert "Unknown: may have been scheduled" in page.content.decode()
    answer = client.post(settle, {"scheduled": "1"})
    assert answer.status_code == 302
    unknown.refresh_from_db()
    assert unknown.state == "scheduled"


@pytest.mark.parametrize(
    ("show", "expected"),
    [("upcoming", ["soon"]), ("past", ["before"]), ("declined", ["declined"]), ("unknown", ["unknown"])],
)
def test_the_list_filters_upcoming_past_declined_and_unknown(show, expected):
    ann = staff("ann", *OPERATOR_PERMS)
    chatuser = ChatUserFactory(remote_id="u1")
    _meeting(chatuser, ann, state="scheduled", invitee_email="soon@example.com")
    past = _meeting(chatuser, ann, state="scheduled", invitee_email="before@example.com")
    Meeting.objects.filter(pk=past.pk).update(start=timezone.now() - timedelta(days=1))
    _meeting(chatuser, ann, state="unknown", invitee_email="unknown@example.com")
    Meeting.objects.create(
        bot_id=chatuser.bot_id,
        chatuser=chatuser,
        chatuser_remote_id="u1",
        kind="decline",
        invitee_email="declined@example.com",
        operator=ann,
        state="declined",
    )

    page = _client(ann).get(reverse("admin:meetings_meeting_changelist") + f"?show={show}")

    assert [m.invitee_email.split("@")[0] for m in page.context["cl"].result_list] == expected


def test_a_viewer_sees_the_list_without_buttons_and_may_neither_send_nor_settle():
    viewer = staff("vic", "chatusers.view_chatuser", "meetings.view_meeting")
    chatuser = ChatUserFactory(remote_id="u1")
    unknown = _meeting(chatuser, viewer, state="unknown")
    client = _client(viewer)

    page = client.get(reverse("admin:meetings_meeting_changelist"))

    assert "It was scheduled" not in page.content.decode()
    assert client.get(reverse("admin:meetings_meeting_schedule", args=[chatuser.pk])).status_code == 403
    assert client.post(reverse("admin:meetings_meeting_settle", args=[unknown.pk])).status_code == 403
    unknown.refresh_from_db()
    assert unknown.state == "unknown"


def test_a_lost_answer_from_the_form_says_it_may_have_been_scheduled():
    ann = staff("ann", *OPERATOR_PERMS)
    with meetings_sandbox(LosesTheAnswerToSchedule) as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))
        start = timezone.localtime(tomorrow_at(15))
        data = {
            "event_uri": "https://calendar.example.com/e/7",
            "start": f"{start:%Y-%m-%dT%H:%M}",
            "end": f"{start + timedelta(minutes=30):%Y-%m-%dT%H:%M}",
            "invitee_email": "giulia@example.com",
        }
        client = _client(ann)

        answer = client.post(
            reverse("admin:meetings_meeting_schedule", args=[chatuser.pk]), data, follow=True
        )

    text = answer.content.decode()
    assert "unknown: may have been scheduled" in text
    assert "It was not scheduled" in text
