"""Reading a bot's numbers from the sandbox and keeping them: exact values, one request per
day pipelined, refusals before any request, and Userbot failing leaving the rows alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from insights import services
from insights.models import AccountBots, Audience, DayNps, DaySales, DayStats, InsightsState, RangeTotals
from insights.ranges import RangeRefused
from insights.services import RefreshFailed, insights_refresh, insights_refresh_account
from sandbox.runner import SandboxHandle
from tests.hostile import refuse, stall
from tests.insights_world import start_demo_userbot

pytestmark = pytest.mark.django_db

WEEK = (date(2026, 11, 10), date(2026, 11, 16))


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """The demo history's sandbox, recording what it is asked (the ``bot`` fixture's server)."""
    with start_demo_userbot() as handle:
        yield handle


def _rows(model: Any) -> list[dict[str, Any]]:
    fields = [field.attname for field in model._meta.concrete_fields]
    return list(model.objects.order_by("pk").values(*fields))


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    models = (DayStats, DayNps, DaySales, RangeTotals, Audience, InsightsState)
    return {model.__name__: _rows(model) for model in models}


def test_refresh_keeps_each_day_and_the_range_as_the_sandbox_counts_them(sandbox, bot):
    report = insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])

    stats = DayStats.objects.filter(bot=bot).order_by("date")
    assert [(d.date.day, d.sessions, d.messages, d.chatusers, d.handovers, d.problem) for d in stats] == [
        (10, 0, 0, 5, 0, ""),
        (11, 0, 0, 4, 0, ""),
        (12, 2, 8, 4, 0, ""),
        (13, 4, 26, 5, 2, ""),
        (14, 1, 4, 5, 0, ""),
        (15, 0, 0, 4, 0, ""),
        (16, 1, 3, 5, 0, ""),
    ]
    nps = DayNps.objects.filter(bot=bot).order_by("date")
    assert [(n.date.day, n.positive, n.neutral, n.negative, n.total, n.nps) for n in nps] == [
        (10, 0, 0, 0, 0, 0),
        (11, 0, 0, 0, 0, 0),
        (12, 0, 0, 1, 1, -100),
        (13, 1, 2, 1, 4, 0),
        (14, 0, 0, 1, 1, -100),
        (15, 0, 0, 0, 0, 0),
        (16, 1, 0, 0, 1, 100),
    ]
    sales = DaySales.objects.get(bot=bot, date=date(2026, 11, 13))
    assert (sales.orders, sales.revenue, sales.currency, sales.conversion_rate, sales.problem) == (
        21,
        Decimal("1722.35"),
        "EUR",
        Decimal("0.0238"),
        "",
    )
    assert DaySales.objects.filter(bot=bot).count() == 7
    totals = RangeTotals.objects.get(bot=bot)
    assert (totals.start, totals.end, totals.sessions, totals.messages, totals.problem) == (*WEEK, 8, 41, "")
    audience = Audience.objects.get(bot=bot)
    assert (audience.total, audience.new, audience.active, audience.problem) == (266, 32, 58, "")
    assert audience.by_channel == {
        "telegram": 12,
        "webchat": 120,
        "instagram": 35,
        "whatsapp": 53,
        "messenger": 33,
        "api": 13,
    }
    assert audience.by_language == {"de": 23, "en": 81, "it": 75, "es": 33, "": 31, "fr": 23}
    assert (report.stored, report.problems, report.unanswered) == ({"stats": 7, "nps": 7, "sales": 7}, (), ())
    assert {row.read_at for row in [*stats, *nps, totals, audience]} == {report.read_at}
    assert InsightsState.objects.get(bot=bot).last_collected_at == report.read_at


def test_refresh_asks_the_range_once_and_each_day_alone_on_one_connection(sandbox, bot):
    insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])

    server = sandbox.server
    days = [WEEK[0] + timedelta(days=n) for n in range(7)]
    assert server.ranges("rawstats.all") == [WEEK]
    assert server.ranges("rawstats.count-sessions") == [WEEK]
    assert server.ranges("rawstats.count-messages") == [WEEK]
    assert server.ranges("chatusers.insights") == [WEEK]
    assert server.ranges("rawstats.count-nps") == [(day, day) for day in days]
    assert server.ranges("rawstats.get") == [(day, day) for day in days]
    assert sum(frame.startswith("apiLogin ") for frame in server.frames) == 1


def test_refreshing_again_overwrites_the_rows_in_place_in_as_many_queries_for_a_month(
    sandbox, bot, django_assert_num_queries
):
    insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])
    first = DayStats.objects.get(bot=bot, date=WEEK[0]).pk

    with django_assert_num_queries(8):  # savepoint, 3 day tables, totals, audience, state, release
        insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])
    with django_assert_num_queries(8):
        insights_refresh(bot=bot, start=date(2026, 10, 17), end=date(2026, 11, 16))

    assert DayStats.objects.filter(bot=bot).count() == 31
    assert DayStats.objects.get(bot=bot, date=WEEK[0]).pk == first
    assert RangeTotals.objects.filter(bot=bot).count() == 2


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [
        (date(2026, 11, 16), date(2026, 11, 10), "the range starts (2026-11-16) after it ends (2026-11-10)"),
        (date(2025, 11, 16), date(2026, 11, 17), "the range is 367 days long; at most 366 are read at once"),
    ],
)
def test_a_range_backwards_or_over_a_year_is_refused_before_any_request(sandbox, bot, start, end, why):
    with pytest.raises(RangeRefused) as refused:
        insights_refresh(bot=bot, start=start, end=end)
    with pytest.raises(RangeRefused):
        insights_refresh_account(start=start, end=end)

    assert str(refused.value) == why
    assert sandbox.server.frames == []
    assert not DayStats.objects.exists() and not AccountBots.objects.exists()


def test_a_range_ending_after_today_is_refused_before_any_request(sandbox, bot, monkeypatch):
    today = date(2026, 11, 24)
    monkeypatch.setattr(services, "utc_today", lambda: today)

    with pytest.raises(RangeRefused) as refused:
        insights_refresh(bot=bot, start=today, end=today + timedelta(days=1))
    with pytest.raises(RangeRefused):
        insights_refresh_account(start=today, end=today + timedelta(days=1))

    assert str(refused.value) == f"the range ends on {today + timedelta(days=1)}, after today ({today} UTC)"
    assert sandbox.server.frames == []


def _rate_limited(frame: dict[str, Any]) -> dict[str, Any]:
    error = {"code": "rate_limited", "message": "slow down", "retry_after": 0.01}
    return {"channel": frame["channel"], "status": 429, "error": error}


@pytest.mark.parametrize(
    ("channel", "hook", "reason", "transient"),
    [
        (
            "rawstats.count-nps",
            refuse(500, "it broke"),
            "Userbot answered rawstats.count-nps for 2026-11-10 with 500 server_error: it broke",
            True,
        ),
        (
            "rawstats.all",
            refuse(400, "bad range"),
            "Userbot answered rawstats.all for 2026-11-10 to 2026-11-16 with 400 invalid: bad range",
            False,
        ),
        (
            "rawstats.get",
            _rate_limited,
            "Userbot answered rawstats.get for 2026-11-10 with 429 rate_limited: slow down",
            True,
        ),
    ],
)
def test_userbot_refusing_raises_and_leaves_the_stored_rows_as_they_were(
    sandbox, bot, channel, hook, reason, transient
):
    insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])
    before = _snapshot()
    sandbox.server.tamper(channel, hook)

    with pytest.raises(RefreshFailed) as failed:
        insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])

    assert (failed.value.reason, failed.value.transient) == (reason, transient)
    assert _snapshot() == before


def test_a_timeout_raises_and_leaves_the_stored_rows_as_they_were(sandbox, bot, settings):
    settings.USERBOT_REQUEST_TIMEOUT_S = 0.3
    insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])
    before = _snapshot()
    sandbox.server.tamper("rawstats.get", stall(1.5), times=1)

    with pytest.raises(RefreshFailed) as failed:
        insights_refresh(bot=bot, start=WEEK[0], end=WEEK[1])

    assert failed.value.transient is True
    assert failed.value.reason.startswith("Userbot did not answer rawstats.get for 2026-11-10: ")
    assert _snapshot() == before


def test_refresh_account_keeps_every_bot_of_the_account(sandbox, bot):
    row = insights_refresh_account(start=date(2026, 11, 1), end=date(2026, 11, 30))

    assert row.bots == [
        {"sitekey": "test-bot", "name": "Test Bot", "sessions": 38, "messages": 191, "chatusers": 105}
    ]
    assert row.problem == ""
    assert AccountBots.objects.get().pk == row.pk
    assert sandbox.server.asked("bot.stats") == [{"from": "2026-11-01", "to": "2026-11-30"}]


def test_refresh_account_without_a_bot_fails_before_any_request(sandbox):
    with pytest.raises(RefreshFailed) as failed:
        insights_refresh_account(start=date(2026, 11, 1), end=date(2026, 11, 30))

    assert (failed.value.reason, failed.value.transient) == ("no bot is set up to ask Userbot through", False)
    assert sandbox.server.frames == []
