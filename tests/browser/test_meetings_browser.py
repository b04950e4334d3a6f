"""Meetings in Chromium: scheduled from a chat user's page, seen in the meetings list, on the
sandbox once and on the chat user's timeline; a booking whose answer was lost shown as "unknown: may have been
scheduled" first in the list, and settled with its button."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from meetings.models import Meeting
from tests.browser.csp import CspWatch
from tests.meetings_world import (
    LosesTheAnswerToSchedule,
    booked,
    bot_of,
    chatuser_on,
    frames,
    meetings_sandbox,
    tomorrow_at,
)

pytestmark = pytest.mark.django_db(transaction=True)
LINK = "https://calendar.example.com/events/42"


def _schedule_from_the_chat_users_page(
    page: Page, live_server: LiveServer, chatuser, screenshot: Callable[..., object] | None = None
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/chatusers/chatuser/{chatuser.pk}/change/")
    page.get_by_role("link", name="Schedule a meeting").click()
    expect(page.locator("h1")).to_have_text(f"Schedule a meeting with {chatuser}")
    expect(page.locator("#id_invitee_email")).to_have_value("giulia@example.com")
    start = timezone.localtime(tomorrow_at(14))
    page.fill("#id_event_uri", LINK)
    page.fill("#id_start", f"{start:%Y-%m-%dT%H:%M}")
    page.fill("#id_end", f"{start + timedelta(minutes=30):%Y-%m-%dT%H:%M}")
    if screenshot is not None:
        screenshot("form", full_page=False)
    page.get_by_role("button", name="Schedule").click()


def test_a_meeting_scheduled_from_a_chat_users_page_is_listed_and_reaches_userbot_once(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[..., object]
):
    watch = CspWatch(admin_page)
    with meetings_sandbox() as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))

        _schedule_from_the_chat_users_page(admin_page, live_server, chatuser, screenshot)

        expect(admin_page.locator(".messagelist")).to_contain_text("scheduled.")
        row = admin_page.locator("#result_list tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("giulia@example.com")
        expect(row.locator(".meeting-state")).to_have_text("Scheduled")
        assert [channel for channel, _ in frames(sandbox)] == ["meetings.schedule"]
        assert booked(sandbox)[0]["event_uri"] == LINK
    screenshot("list", full_page=False)
    assert Meeting.objects.get().state == "scheduled"
    admin_page.goto(f"{live_server.url}/admin/chatusers/chatuser/{chatuser.pk}/change/")
    expect(admin_page.locator("#timeline .timeline-meeting")).to_have_count(1)
    expect(admin_page.locator("#timeline .timeline-meeting")).to_contain_text("(scheduled)")
    assert (watch.violations, watch.script_errors) == ([], [])


def test_a_booking_whose_answer_was_lost_is_shown_unknown_first_and_settled_with_its_button(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[..., object]
):
    with meetings_sandbox(LosesTheAnswerToSchedule) as sandbox:
        chatuser = chatuser_on(sandbox, bot_of(sandbox))

        _schedule_from_the_chat_users_page(admin_page, live_server, chatuser)

        expect(admin_page.locator(".messagelist")).to_contain_text("unknown: may have been scheduled")
        first = admin_page.locator("#result_list tbody tr").first
        expect(first.locator(".meeting-state")).to_have_text("Unknown: may have been scheduled")
        screenshot("unknown", full_page=False)
        first.get_by_role("button", name="It was scheduled", exact=True).click()

        expect(admin_page.locator(".messagelist")).to_contain_text("was scheduled")
        assert [channel for channel, _ in frames(sandbox)] == ["meetings.schedule"]
    assert Meeting.objects.get().state == "scheduled"
