"""The index's insights: per bot, today and the last 7 full days against the 7 before, read
from the stored days alone, each figure a link to the bot's insights page for its range; a
day not read is missing, never zero; only those who may view insights see them; the
queries do not grow with the number of bots."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import resolve

from backoffice.admin_site.dashboard import Change
from insights.models import DayNps, DayStats, InsightsState
from insights.nps import nps_of
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 24)
READ_AT = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today is fixed, so that the windows cannot move across midnight during a test."""
    monkeypatch.setattr("backoffice.admin_site.dashboard.utc_today", lambda: TODAY)


def _day(bot: Any, back: int, *, sessions: int, problem: str = "", read_at: datetime = READ_AT) -> None:
    numbers = {"sessions": sessions, "messages": 10 * sessions, "chatusers": 2, "handovers": 1}
    if problem:
        numbers = dict.fromkeys(numbers)
    DayStats.objects.create(
        bot=bot, date=TODAY - timedelta(days=back), read_at=read_at, problem=problem, **numbers
    )


def _nps(bot: Any, back: int, positive: int, neutral: int, negative: int) -> None:
    total = positive + neutral + negative
    score = nps_of(positive=positive, negative=negative, total=total)
    DayNps.objects.create(
        bot=bot,
        date=TODAY - timedelta(days=back),
        read_at=READ_AT,
        positive=positive,
        neutral=neutral,
        negative=negative,
        total=total,
        nps=score,
    )


def _login(client: Client, role: str) -> None:
    user = get_user_model().objects.create_user("vera", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)


def _cell(page: str, sitekey: str, figure: str, *, heard: bool = False) -> str:
    """The text of a bot's cell as it is seen, or (``heard``) as a screen reader reads it."""
    row = re.search(rf'<tr data-sitekey="{sitekey}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {sitekey}"
    cell = re.search(rf'<td[^>]*data-figure="{figure}"[^>]*>(.*?)</td>', row.group(1), re.S)
    assert cell, f"no {figure} cell for {sitekey}"
    left_out = r'aria-hidden="true"' if heard else r'class="visually-hidden"'
    text = re.sub(rf"<span[^>]*{left_out}[^>]*>[^<]*</span>", " ", cell.group(1))
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _page(bot_id: int, start: str, end: str) -> str:
    return f"/admin/insights/daystats/{bot_id}/?from={start}&to={end}"


def test_the_index_shows_a_bots_stored_days_today_and_the_two_weeks_each_linked(admin_client: Any) -> None:
    bot = BotFactory(name="Shop", sitekey="shop")
    for back in range(15):  # today and the 14 days before, all read
        _day(bot, back, sessions=10 + back, read_at=READ_AT + timedelta(minutes=back == 2))
    _nps(bot, 0, 1, 0, 0)
    for back in range(1, 8):
        _nps(bot, back, 3, 1, 0)
    for back in range(8, 15):
        _nps(bot, back, 1, 0, 1)
    InsightsState.objects.create(
        bot=bot,
        last_collected_at=READ_AT,
        last_error="Userbot did not answer",
        last_error_at=READ_AT + timedelta(hours=1),
    )

    response = admin_client.get("/admin/")

    insights = response.context["dashboard"][0].insights
    sessions, _, chatusers, _, nps = insights.figures
    # last 7: 1..7 days back, 10+1 .. 10+7 = 98; the 7 before: 8..14 back = 147
    assert [(f.name, f.today.value, f.last_7.value, f.previous_7.value) for f in insights.figures] == [
        ("sessions", 10, 98, 147),
        ("messages", 100, 980, 1470),
        ("chatusers", 2, 14, 14),
        ("handovers", 1, 7, 7),
        ("nps", 100, 75, 0),
    ]
    assert (sessions.change, chatusers.change, nps.change) == (
        Change("down", 49, "down 49 on the 7 days before"),
        Change("same", 0, "the same as the 7 days before"),
        Change("up", 75, "up 75 points on the 7 days before"),
    )
    assert (sessions.today.url, sessions.last_7.url, sessions.previous_7.url) == (
        _page(bot.pk, "2026-11-24", "2026-11-24"),
        _page(bot.pk, "2026-11-17", "2026-11-23"),
        _page(bot.pk, "2026-11-10", "2026-11-16"),
    )
    assert resolve(sessions.last_7.url.split("?")[0]).url_name == "insights_bot"
    assert insights.read_at == READ_AT + timedelta(minutes=1)
    assert (insights.failure, insights.failed_at) == ("Userbot did not answer", READ_AT + timedelta(hours=1))
    page = response.content.decode()
    assert _cell(page, "shop", "sessions") == "98 ▼ 49 from 147 today 10"
    assert _cell(page, "shop", "sessions", heard=True) == (
        "Last 7 days: 98 down 49 on the 7 days before, which had 147 today 10"
    )
    assert _cell(page, "shop", "chatusers") == "14 = 0 from 14 today 2"
    assert _cell(page, "shop", "nps", heard=True) == (
        "Last 7 days: 75 up 75 points on the 7 days before, which had 0 today 100"
    )
    assert f'href="/admin/insights/daystats/{bot.pk}/?from=2026-11-17&amp;to=2026-11-23"' in page
    assert "Reading failed" in _cell(page, "shop", "insights_read")


def test_a_day_not_read_is_missing_and_its_week_is_not_compared(admin_client: Any) -> None:
    gappy, late, _ = (BotFactory(name=n, sitekey=n) for n in ("gappy", "late", "never"))
    for back in range(1, 15):
        if back != 3:  # 3 days ago was never answered
            _day(gappy, back, sessions=5, problem="sessions: -1 is not a count" if back == 5 else "")
    _day(late, 9, sessions=4)  # only a day of the 7 before

    response = admin_client.get("/admin/")

    rows = {row.sitekey: row.insights for row in response.context["dashboard"]}
    sessions = rows["gappy"].figures[0]
    assert (sessions.today.missing, sessions.last_7.value, sessions.last_7.days, sessions.change) == (
        True,
        25,
        5,
        None,
    )
    page = response.content.decode()
    assert _cell(page, "gappy", "sessions") == "25 (5/7) before 35 today missing"
    assert _cell(page, "gappy", "sessions", heard=True) == (
        "Last 7 days: 25 , over 5 of its 7 days before 35 today missing"
    )
    assert _cell(page, "late", "sessions") == "missing before 4 (1/7) today missing"
    assert _cell(page, "late", "nps") == "missing before missing today missing"
    assert _cell(page, "never", "insights_none") == "missing : no day of the last 15 read yet"
    assert _cell(page, "never", "insights_read") == "never"
    assert rows["never"].read_at is None
    assert " 0 " not in f" {_cell(page, 'late', 'handovers')} "


def test_who_may_not_view_insights_sees_the_dashboard_as_before_and_no_insights_are_read(
    client: Client,
) -> None:
    bot = BotFactory(name="Shop", sitekey="shop")
    _day(bot, 1, sessions=7)
    _login(client, "knowledge editor")  # sees chat users, not insights

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/admin/")

    page = response.content.decode()
    assert [row.name for row in response.context["dashboard"]] == ["Shop"]
    assert 'data-figure="chatusers"' in page
    assert 'data-figure="sessions"' not in page
    assert "Numbers read" not in page
    assert "/admin/insights/" not in page
    assert not [q["sql"] for q in captured.captured_queries if "insights_" in q["sql"]]


def test_a_viewer_sees_the_insights(client: Client) -> None:
    bot = BotFactory(name="Shop", sitekey="shop")
    _day(bot, 1, sessions=7)
    _login(client, "viewer")

    page = client.get("/admin/").content.decode()

    assert _cell(page, "shop", "sessions") == "7 (1/7) before missing today missing"


def _queries(client: Any) -> int:
    client.get("/admin/")  # the session's first page keeps what every later one reads
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/admin/").status_code == 200
    return len(captured.captured_queries)


def _stored_bot(n: int) -> Any:
    bot = BotFactory(name=f"Bot {n}", sitekey=f"bot-{n}")
    for back in range(15):
        _day(bot, back, sessions=n + back)
        _nps(bot, back, 2, 1, n % 2)
    InsightsState.objects.create(bot=bot, last_error="timed out", last_error_at=READ_AT)
    return bot


def test_the_insights_cost_the_same_queries_for_one_bot_and_five(admin_client: Any) -> None:
    _stored_bot(0)
    with_one = _queries(admin_client)
    for n in range(1, 5):
        _stored_bot(n)

    with_five = _queries(admin_client)
    response = admin_client.get("/admin/")

    assert with_five == with_one
    rows = response.context["dashboard"]
    assert [(row.name, row.insights.figures[0].last_7.value, row.insights.failure) for row in rows] == [
        (f"Bot {n}", 7 * n + 28, "timed out") for n in range(5)
    ]
