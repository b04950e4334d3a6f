"""A bot's insights page in the admin: the range it is asked for, the ranges it refuses
without asking Userbot anything, "Refresh now" succeeding and failing, and who may see it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from insights.admin_range import PageRange, choose_range
from insights.models import AccountBots, DayStats
from sandbox.runner import SandboxHandle
from tests.hostile import refuse, stall
from tests.insights_rows import store_days
from tests.insights_world import start_demo_userbot

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 24)
WEEK = {"from": "2026-11-10", "to": "2026-11-16"}


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """The demo history's sandbox, recording every frame it is sent (the ``bot`` fixture's)."""
    with start_demo_userbot() as handle:
        yield handle


def _login(client: Client, role: str | None = "viewer") -> Any:
    user = get_user_model().objects.create_user("vera", password="x", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def _page(bot: Any) -> str:
    return f"/admin/insights/daystats/{bot.pk}/"


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, PageRange(date(2026, 10, 26), TODAY, "30")),
        ({"preset": "7"}, PageRange(date(2026, 11, 18), TODAY, "7")),
        ({"preset": "30"}, PageRange(date(2026, 10, 26), TODAY, "30")),
        ({"preset": "90"}, PageRange(date(2026, 8, 27), TODAY, "90")),
        ({"preset": "month"}, PageRange(date(2026, 11, 1), TODAY, "month")),
        (WEEK, PageRange(date(2026, 11, 10), date(2026, 11, 16), "")),
        ({**WEEK, "preset": "7"}, PageRange(date(2026, 11, 10), date(2026, 11, 16), "")),
        ({"from": "2025-11-24", "to": "2026-11-24"}, PageRange(date(2025, 11, 24), TODAY, "")),
        ({"from": "2026-11-24", "to": "2026-11-24"}, PageRange(TODAY, TODAY, "")),
    ],
)
def test_the_range_comes_from_a_preset_or_two_dates(params, expected):
    choice = choose_range(params, today=TODAY)

    assert (choice.range, choice.errors) == (expected, ())


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"from": "2026-11-16", "to": "2026-11-10"},
            "The range starts on 2026-11-16, after it ends on 2026-11-10.",
        ),
        (
            {"from": "2025-11-23", "to": "2026-11-24"},
            "The range is 367 days long; at most 366 are shown at once.",
        ),
        ({"from": "2026-02-30", "to": "2026-03-02"}, "“2026-02-30” is not a date: write it as YYYY-MM-DD."),
        ({"from": "20261110", "to": "2026-11-16"}, "“20261110” is not a date: write it as YYYY-MM-DD."),
        ({"from": "2026-11-10"}, "Give the “to” date too, as YYYY-MM-DD."),
        ({"preset": "365"}, "“365” is not a preset; choose 7, 30, 90, month."),
    ],
)
def test_a_range_that_cannot_be_shown_is_a_form_error_and_nothing_is_asked(
    client, sandbox, bot, params, error
):
    _login(client)

    page = client.get(_page(bot), params)
    refreshed = client.post(f"{_page(bot)}refresh/", params, follow=True)
    export = client.get(f"{_page(bot)}activity.csv", params)

    assert page.status_code == 200
    assert page.context["choice"].errors == (error,)
    assert error in page.content.decode()
    assert "range" not in page.context and b'id="insights-data"' not in page.content
    assert _messages(refreshed) == [f"Could not refresh: {error}"]
    assert (export.status_code, export.content.decode()) == (400, error)
    assert sandbox.server.frames == []
    assert not DayStats.objects.exists()


def test_the_page_names_the_range_and_says_days_are_utc(client, bot):
    _login(client)

    response = client.get(_page(bot), WEEK)

    text = response.content.decode()
    assert "<strong>2026-11-10 to 2026-11-16</strong> (7 days)" in text
    assert "Days are UTC days, from 00:00 to 24:00 UTC" in text
    assert 'name="from" value="2026-11-10"' in text and 'name="to" value="2026-11-16"' in text


def test_refresh_now_reads_the_range_and_the_account_and_says_so(client, sandbox, bot):
    user = _login(client, "operator")

    response = client.post(f"{_page(bot)}refresh/", WEEK, follow=True)

    assert response.redirect_chain == [(f"{_page(bot)}?from=2026-11-10&to=2026-11-16", 302)]
    assert _messages(response) == ["Refreshed 2026-11-10 to 2026-11-16 from Userbot."]
    assert list(DayStats.objects.order_by("date").values_list("date__day", "sessions")) == [
        (10, 0),
        (11, 0),
        (12, 2),
        (13, 4),
        (14, 1),
        (15, 0),
        (16, 1),
    ]
    assert AccountBots.objects.get().bots[0]["sitekey"] == "test-bot"
    totals = {line.label: (line.days_sum, line.status) for line in response.context["totals"]}
    assert totals["Sessions"] == (8, "agree") and totals["Messages"] == (41, "agree")
    entry = LogEntry.objects.get(user=user)
    assert (entry.object_id, entry.change_message) == (str(bot.pk), _messages(response)[0])


def test_refresh_of_a_preset_comes_back_to_the_preset(client, sandbox, bot, monkeypatch):
    _login(client)
    monkeypatch.setattr("insights.admin.utc_today", lambda: TODAY)
    monkeypatch.setattr("insights.services.utc_today", lambda: TODAY)

    response = client.post(f"{_page(bot)}refresh/", {"preset": "7"})

    assert response["Location"] == f"{_page(bot)}?preset=7"
    assert sandbox.server.ranges("rawstats.all") == [(date(2026, 11, 18), TODAY)]


def _rate_limited(frame: dict[str, Any]) -> dict[str, Any]:
    error = {"code": "rate_limited", "message": "slow down", "retry_after": 0.01}
    return {"channel": frame["channel"], "status": 429, "error": error}


@pytest.mark.parametrize(
    ("channel", "hook", "reason"),
    [
        (
            "rawstats.all",
            refuse(400, "bad range"),
            "Userbot answered rawstats.all for 2026-11-10 to 2026-11-16 with 400 invalid: bad range",
        ),
        (
            "rawstats.get",
            _rate_limited,
            "Userbot answered rawstats.get for 2026-11-10 with 429 rate_limited: slow down",
        ),
        (
            "rawstats.count-nps",
            refuse(500, "it broke"),
            "Userbot answered rawstats.count-nps for 2026-11-10 with 500 server_error: it broke",
        ),
    ],
)
def test_userbot_failing_a_refresh_shows_the_stored_numbers_and_why(
    client, sandbox, bot, channel, hook, reason
):
    _login(client)
    store_days(bot, date(2026, 11, 10), date(2026, 11, 16))
    before = list(DayStats.objects.order_by("date").values_list("date", "sessions", "read_at"))
    sandbox.server.tamper(channel, hook)

    response = client.post(f"{_page(bot)}refresh/", WEEK, follow=True)

    assert response.status_code == 200
    assert _messages(response) == [f"Could not refresh: {reason}. The numbers shown are those stored before."]
    assert list(DayStats.objects.order_by("date").values_list("date", "sessions", "read_at")) == before
    drawn = response.context["page_data"]["charts"]["activity"]["datasets"][0]["data"]
    assert drawn == [10, 11, 12, 13, 14, 15, 16]
    assert not AccountBots.objects.exists()


def test_a_refresh_that_times_out_says_so(client, sandbox, bot, settings):
    settings.USERBOT_REQUEST_TIMEOUT_S = 0.3
    _login(client)
    sandbox.server.tamper("rawstats.all", stall(1.5), times=1)

    response = client.post(f"{_page(bot)}refresh/", WEEK, follow=True)

    (message,) = _messages(response)
    assert message.startswith(
        "Could not refresh: Userbot did not answer rawstats.all for 2026-11-10 to 2026-11-16: "
    )
    assert not DayStats.objects.exists()


def test_a_range_past_today_is_not_refreshed_and_nothing_is_asked(client, sandbox, bot):
    _login(client)

    response = client.post(f"{_page(bot)}refresh/", {"from": "2099-01-01", "to": "2099-01-02"}, follow=True)

    (message,) = _messages(response)
    assert message.startswith("Could not refresh: the range ends on 2099-01-02, after today (")
    assert sandbox.server.frames == []


def test_refresh_needs_the_csrf_token(sandbox, bot):
    client = Client(enforce_csrf_checks=True)
    _login(client)

    response = client.post(f"{_page(bot)}refresh/", WEEK)

    assert response.status_code == 403
    assert sandbox.server.frames == []


@pytest.mark.parametrize("url", ["", "{bot}/?preset=7", "{bot}/activity.csv?preset=7", "{bot}/refresh/"])
def test_staff_without_the_insights_view_permission_get_403_and_nothing_is_asked(client, sandbox, bot, url):
    _login(client, role=None)
    path = f"/admin/insights/daystats/{url.format(bot=bot.pk)}"

    response = client.post(path, WEEK) if url.endswith("refresh/") else client.get(path)

    assert response.status_code == 403
    assert sandbox.server.frames == []


def test_the_insights_entry_is_in_the_chats_group_for_those_who_may_see_it(client, bot):
    _login(client, "viewer")

    index = client.get("/admin/")
    bots = client.get("/admin/insights/daystats/")

    chats = next(group for group in index.context["app_list"] if group["name"] == "Chats")
    assert [entry["name"] for entry in chats["models"]] == ["Live chats", "Insights"]
    assert f'href="/admin/insights/daystats/{bot.pk}/"'.encode() in bots.content
