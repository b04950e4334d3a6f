"""Stored insights rows for the page tests: every day of a range with numbers that follow
from its place in the range, some days left missing or stored as not valid, and the
range's own rows (totals, audience, the account's bots)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from backoffice.userbot.models import Bot
from insights.models import AccountBots, Audience, DayNps, DaySales, DayStats, RangeTotals
from insights.nps import nps_of

READ_AT = datetime(2026, 11, 24, 9, 30, 5, tzinfo=UTC)
PROBLEM = "rawstats.all: day [3]: sessions: -1 is less than the minimum of 0"


def stats_of(n: int) -> dict[str, int]:
    return {"sessions": 10 + n, "messages": 3 * (10 + n), "chatusers": n % 5 + 1, "handovers": n % 3}


def nps_counts_of(n: int) -> dict[str, int]:
    positive, neutral, negative = n % 4, 1, (n + 1) % 3
    total = positive + neutral + negative
    score = nps_of(positive=positive, negative=negative, total=total) or 0
    return {"positive": positive, "neutral": neutral, "negative": negative, "total": total, "nps": score}


def sales_of(n: int) -> dict[str, Any]:
    return {
        "orders": n % 7,
        "revenue": Decimal(n * 1250) / 100,
        "currency": "EUR",
        "conversion_rate": Decimal(125 + n) / 10000,
    }


def store_days(
    bot: Bot,
    start: date,
    end: date,
    *,
    missing: Iterable[date] = (),
    invalid: Iterable[date] = (),
    read_at: datetime = READ_AT,
) -> None:
    """Every day of ``start``..``end`` of the three kinds, but the ``missing`` days (no row)
    and the ``invalid`` days (a row with PROBLEM and no numbers)."""
    skipped, broken = set(missing), set(invalid)
    rows: dict[type, list[Any]] = {DayStats: [], DayNps: [], DaySales: []}
    for n in range((end - start).days + 1):
        day = start + timedelta(days=n)
        if day in skipped:
            continue
        common = {"bot": bot, "date": day, "read_at": read_at}
        if day in broken:
            for model in rows:
                rows[model].append(model(**common, problem=PROBLEM))
            continue
        rows[DayStats].append(DayStats(**common, **stats_of(n)))
        rows[DayNps].append(DayNps(**common, **nps_counts_of(n)))
        rows[DaySales].append(DaySales(**common, **sales_of(n)))
    for model, objects in rows.items():
        model.objects.bulk_create(objects)


def store_range(bot: Bot, start: date, end: date, *, read_at: datetime = READ_AT, **totals: Any) -> None:
    """The range's totals (as the days add up unless given), its audience and the account."""
    days = (end - start).days + 1
    sums = {name: sum(stats_of(n)[name] for n in range(days)) for name in ("sessions", "messages")}
    RangeTotals.objects.create(bot=bot, start=start, end=end, read_at=read_at, **{**sums, **totals})
    Audience.objects.create(
        bot=bot,
        start=start,
        end=end,
        read_at=read_at,
        total=60,
        new=12,
        active=30,
        by_channel={"webchat": 35, "whatsapp": 20, "telegram": 5},
        by_language={"it": 40, "en": 15, "": 5},
    )
    AccountBots.objects.create(
        start=start,
        end=end,
        read_at=read_at,
        bots=[
            {"sitekey": bot.sitekey, "name": bot.name, "sessions": 40, "messages": 120, "chatusers": 9},
            {
                "sitekey": "other",
                "name": '=HYPERLINK("http://x")',
                "sessions": 70,
                "messages": 90,
                "chatusers": 3,
            },
            {"sitekey": "quiet", "name": "Quiet", "sessions": 5, "messages": 300, "chatusers": 1},
        ],
    )
