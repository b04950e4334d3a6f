"""What pages read of insights: every day in order with gaps for missing and invalid days,
weekly NPS, totals against days, the dashboard's figures; each in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from insights.models import DayNps, DaySales, DayStats, RangeTotals
from insights.selectors import (
    Trend,
    bots_missing_days,
    dashboard_figures,
    missing_days,
    range_check,
    series,
    weekly_nps,
)
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

START = date(2026, 11, 9)  # a Monday


def _read_at() -> datetime:
    return datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def _stats(
    bot: Any, day: date, sessions: int = 1, *, problem: str = "", read_at: datetime | None = None
) -> DayStats:
    numbers = (
        {} if problem else {"sessions": sessions, "messages": 10 * sessions, "chatusers": 2, "handovers": 1}
    )
    return DayStats.objects.create(
        bot=bot, date=day, read_at=read_at or _read_at(), problem=problem, **numbers
    )


def _nps(bot: Any, day: date, positive: int, neutral: int, negative: int) -> DayNps:
    total = positive + neutral + negative
    score = round(100 * (positive - negative) / total) if total else 0
    return DayNps.objects.create(
        bot=bot,
        date=day,
        read_at=_read_at(),
        positive=positive,
        neutral=neutral,
        negative=negative,
        total=total,
        nps=score,
    )


def _sales(bot: Any, day: date, revenue: str, currency: str = "EUR") -> DaySales:
    return DaySales.objects.create(
        bot=bot,
        date=day,
        read_at=_read_at(),
        orders=3,
        revenue=Decimal(revenue),
        currency=currency,
        conversion_rate=Decimal("0.0300"),
    )


def test_series_gives_every_day_in_order_with_missing_and_invalid_days_as_none():
    bot = BotFactory()
    _stats(bot, START, 2)
    _stats(bot, START + timedelta(days=2), problem="rawstats.all: sessions: required")
    _stats(bot, START + timedelta(days=3), 5)
    _nps(bot, START, 2, 1, 1)
    _nps(bot, START + timedelta(days=3), 1, 0, 0)
    _sales(bot, START, "10.50")
    _sales(bot, START + timedelta(days=1), "4.25", "USD")
    _sales(bot, START + timedelta(days=3), "1.00")

    result = series(bot=bot, start=START, end=START + timedelta(days=4))

    assert [day.date for day in result.days] == [START + timedelta(days=n) for n in range(5)]
    assert [day.stats and day.stats["sessions"] for day in result.days] == [2, None, None, 5, None]
    assert result.days[2].problems == {"stats": "rawstats.all: sessions: required"}
    assert result.days[0].stats == {"sessions": 2, "messages": 20, "chatusers": 2, "handovers": 1}
    assert result.days[0].nps == {"positive": 2, "neutral": 1, "negative": 1, "total": 4, "nps": 25}
    assert result.days[1].sales == {
        "orders": 3,
        "revenue": Decimal("4.25"),
        "currency": "USD",
        "conversion_rate": Decimal("0.0300"),
    }
    assert result.stats == {"sessions": 7, "messages": 70, "chatusers": 4, "handovers": 2}
    assert result.nps == {"positive": 3, "neutral": 1, "negative": 1, "total": 5, "nps": 40}
    assert (result.orders, result.revenue) == (9, {"EUR": Decimal("11.50"), "USD": Decimal("4.25")})
    assert result.counted == {"stats": 2, "nps": 2, "sales": 3}


def test_weekly_nps_scores_each_iso_week_from_its_summed_counts():
    bot = BotFactory()
    _nps(bot, date(2026, 11, 11), 1, 3, 0)  # week 46
    _nps(bot, date(2026, 11, 15), 0, 4, 0)  # week 46: 1 promoter in 8, 12.5 rounds to 13
    _nps(bot, date(2026, 11, 17), 0, 7, 1)  # week 47: -12.5 rounds to -13
    _nps(bot, date(2026, 11, 23), 0, 0, 0)  # week 48: no feedback

    weeks = weekly_nps(bot=bot, start=date(2026, 11, 11), end=date(2026, 11, 24))

    assert [(w.year, w.week, w.start.day, w.end.day, w.counted, w.total, w.nps) for w in weeks] == [
        (2026, 46, 11, 15, 2, 8, 13),
        (2026, 47, 16, 22, 1, 8, -13),
        (2026, 48, 23, 24, 1, 0, None),
    ]


def _totals(bot: Any, start: date, end: date, sessions: int, messages: int) -> RangeTotals:
    return RangeTotals.objects.create(
        bot=bot, start=start, end=end, sessions=sessions, messages=messages, read_at=_read_at()
    )


def test_range_check_says_whether_the_totals_agree_with_the_days():
    bot = BotFactory()
    end = START + timedelta(days=2)
    for n in range(3):
        _stats(bot, START + timedelta(days=n), n + 1)
    _totals(bot, START, end, sessions=6, messages=61)

    check = range_check(bot=bot, start=START, end=end)

    assert (check.sessions.status, check.sessions.total, check.sessions.days_sum) == ("agree", 6, 6)
    assert (check.messages.status, check.messages.total, check.messages.days_sum) == ("disagree", 61, 60)
    assert (check.why, check.read_at) == ("", _read_at())


def test_range_check_does_not_compare_what_was_not_read_together():
    bot = BotFactory()
    end = START + timedelta(days=2)
    _stats(bot, START, 1)
    _stats(bot, START + timedelta(days=1), 1, read_at=_read_at() + timedelta(hours=1))

    never = range_check(bot=bot, start=START, end=end)
    _totals(bot, START, end, sessions=3, messages=30)
    gap = range_check(bot=bot, start=START, end=end)
    _stats(bot, end, 1)
    reread = range_check(bot=bot, start=START, end=end)

    assert [c.sessions.status for c in (never, gap, reread)] == ["not read"] * 3
    assert never.why == "the totals of this range were never read"
    assert gap.why == "1 of the 3 days are missing or not valid"
    assert reread.why == "some days were read again after the totals"


def test_dashboard_figures_give_today_and_the_last_seven_full_days_against_the_seven_before():
    busy, idle = BotFactory(), BotFactory()
    today = date(2026, 11, 24)
    for n in range(15):  # today and the 14 days before, 3 days ago kept as a problem
        _stats(busy, today - timedelta(days=n), sessions=n, problem="broken" if n == 3 else "")
    _nps(busy, today, 1, 0, 0)
    _nps(busy, today - timedelta(days=1), 1, 1, 0)
    _nps(busy, today - timedelta(days=8), 0, 1, 1)

    figures = dashboard_figures(bots=[busy, idle], today=today)

    # last 7: days 1..7 back (day 3 invalid): 1+2+4+5+6+7 = 25; previous 7: days 8..14 back
    assert figures[busy.pk]["sessions"] == Trend(0, 25, 77, 6, 7)
    assert figures[busy.pk]["messages"] == Trend(0, 250, 770, 6, 7)
    assert figures[busy.pk]["handovers"] == Trend(1, 6, 7, 6, 7)
    assert figures[busy.pk]["nps"] == Trend(100, 50, -50, 1, 1)
    assert figures[busy.pk]["sessions"].difference == -52
    assert figures[idle.pk] == {name: Trend(None, None, None, 0, 0) for name in figures[idle.pk]}
    assert list(figures[idle.pk]) == ["sessions", "messages", "chatusers", "handovers", "nps"]


def test_missing_days_are_the_days_without_a_row_of_every_kind():
    bot, full = BotFactory(), BotFactory()
    for n in range(3):
        for owner in (bot, full):
            _stats(owner, START + timedelta(days=n))
            _nps(owner, START + timedelta(days=n), 0, 0, 0)
            _sales(owner, START + timedelta(days=n), "1.00")
    DayNps.objects.filter(bot=bot, date=START + timedelta(days=1)).delete()
    DayStats.objects.filter(bot=bot, date=START + timedelta(days=2)).update(
        sessions=None, messages=None, chatusers=None, handovers=None, problem="broken"
    )

    assert missing_days(bot=bot, start=START, end=START + timedelta(days=3)) == [
        START + timedelta(days=1),
        START + timedelta(days=3),
    ]
    assert bots_missing_days(bots=[full, bot], start=START, end=START + timedelta(days=2)) == [bot.pk]


@pytest.mark.parametrize("length", [7, 365])
def test_each_selector_costs_the_same_queries_whatever_the_range(length, django_assert_num_queries):
    bots = [BotFactory() for _ in range(3)]
    end = START + timedelta(days=length - 1)
    for bot in bots:
        for model, numbers in (
            (DayStats, {"sessions": 1, "messages": 2, "chatusers": 0, "handovers": 0}),
            (DayNps, {"positive": 1, "neutral": 0, "negative": 0, "total": 1, "nps": 100}),
            (DaySales, {"orders": 1, "revenue": 2, "currency": "EUR", "conversion_rate": 0}),
        ):
            model.objects.bulk_create(
                model(bot=bot, date=START + timedelta(days=n), read_at=_read_at(), **numbers)
                for n in range(length)
            )
        _totals(bot, START, end, sessions=length, messages=2 * length)

    with django_assert_num_queries(3):
        days = series(bot=bots[0], start=START, end=end)
    with django_assert_num_queries(1):
        weekly_nps(bot=bots[0], start=START, end=end)
    with django_assert_num_queries(2):
        check = range_check(bot=bots[0], start=START, end=end)
    with django_assert_num_queries(2):
        dashboard_figures(bots=bots, today=end)
    with django_assert_num_queries(3):
        missing_days(bot=bots[0], start=START, end=end)
    with django_assert_num_queries(3):
        bots_missing_days(bots=bots, start=START, end=end)

    assert (days.counted, check.sessions.status) == (
        {"stats": length, "nps": length, "sales": length},
        "agree",
    )
