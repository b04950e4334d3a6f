"""What one bot's insights page shows for a range, read once from the stored rows: the
tables (``admin_tables``) and the figures beside them, in words where a number alone would
mislead (totals that disagree, days not read, a rate Userbot gives only per day)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.urls import reverse

from backoffice.userbot.models import Bot
from insights import admin_reads, admin_tables
from insights.admin_charts import ChartTable
from insights.admin_range import PageRange
from insights.models import AccountBots, Audience
from insights.selectors import (
    KINDS,
    FigureCheck,
    RangeCheck,
    Series,
    WeekNps,
    range_check,
    series,
    weekly_nps,
)

# How the page names each outcome of ``range_check``.
STATUS_WORDS = {"agree": "agrees", "disagree": "disagrees", "not read": "not checked", "": ""}


@dataclass(frozen=True, slots=True)
class TotalLine:
    """A figure of the range: the sum of its days, and how Userbot's own total compares."""

    label: str
    days_sum: int
    total: int | None
    status: str  # agree, disagree, not read, or "" where Userbot gives no total
    words: str

    @property
    def status_words(self) -> str:
        return STATUS_WORDS[self.status]


class PageReads:
    """The stored rows one page of ``bot`` over ``chosen`` draws from, each read at most
    once, when first used: a CSV export reads only what its table needs."""

    def __init__(self, *, bot: Bot, chosen: PageRange, bot_sort: str = "") -> None:
        self.bot = bot
        self.chosen = chosen
        self.bot_sort = admin_tables.bots_sort(bot_sort)

    @property
    def span(self) -> dict[str, Any]:
        return {"bot": self.bot, "start": self.chosen.start, "end": self.chosen.end}

    @cached_property
    def series(self) -> Series:
        return series(**self.span)

    @cached_property
    def weeks(self) -> list[WeekNps]:
        return weekly_nps(**self.span)

    @cached_property
    def check(self) -> RangeCheck:
        return range_check(**self.span)

    @cached_property
    def reads(self) -> dict[str, dict[date, datetime]]:
        """Per kind (``stats``, ``nps``, ``sales``) when each stored day was read, valid or
        not: from ``series``' own rows, so no query of its own."""
        found: dict[str, dict[date, datetime]] = {kind: {} for kind in KINDS}
        for day in self.series.days:
            for kind, moment in day.read_at.items():
                found[kind][day.date] = moment
        return found

    @cached_property
    def audience(self) -> Audience | None:
        return admin_reads.range_audience(**self.span)

    @cached_property
    def account(self) -> AccountBots | None:
        return admin_reads.range_account_bots(start=self.chosen.start, end=self.chosen.end)

    def table(self, key: str) -> ChartTable:
        """The table ``key`` names (a KeyError for one the page does not have)."""
        return TABLES[key](self)

    def tables(self) -> dict[str, ChartTable]:
        return {key: self.table(key) for key in TABLES}

    def _bot_pages(self) -> dict[str, str]:
        pages = admin_reads.bot_ids_by_sitekey()
        query = self.chosen.querystring()
        return {
            sitekey: f"{reverse('admin:insights_bot', args=[pk])}?{query}" for sitekey, pk in pages.items()
        }


TABLES: dict[str, Callable[[PageReads], ChartTable]] = {
    "activity": lambda r: admin_tables.activity_table(r.series, r.reads["stats"]),
    "nps": lambda r: admin_tables.weekly_nps_table(r.weeks, r.reads["nps"]),
    "sales": lambda r: admin_tables.sales_table(r.series, r.reads["sales"]),
    "conversion": lambda r: admin_tables.conversion_table(r.series, r.reads["sales"]),
    "audience_channel": lambda r: admin_tables.audience_table(r.audience, "channel", bot_id=r.bot.pk),
    "audience_language": lambda r: admin_tables.audience_table(r.audience, "language", bot_id=r.bot.pk),
    "bots": lambda r: admin_tables.bots_table(r.account, sort=r.bot_sort, pages=r._bot_pages()),
}


def _checked(label: str, figure: FigureCheck, days_sum: int, check: RangeCheck) -> TotalLine:
    if figure.status == "agree":
        words = f"Userbot's total for the range, {figure.total}, agrees with the sum of the days."
    elif figure.status == "disagree":
        difference = (figure.total or 0) - days_sum
        words = (
            f"Userbot's total for the range is {figure.total}, but the days add up to {days_sum}: "
            f"they disagree by {difference:+d}."
        )
    else:
        words = f"Not checked against Userbot's total: {check.why}."
        if figure.total is not None:
            words += f" Userbot's total, read then, was {figure.total}."
    return TotalLine(label, days_sum, figure.total, figure.status, words)


def total_lines(reads: PageReads) -> list[TotalLine]:
    """The range's activity: each figure's sum of days, sessions and messages checked against
    the totals Userbot gives for the range."""
    stats, check = reads.series.stats, reads.check
    counted, days = reads.series.counted["stats"], reads.chosen.days
    cover = f"The sum covers {counted} of the {days} days; the others are missing or not valid."
    lines = [
        _checked("Sessions", check.sessions, stats["sessions"], check),
        _checked("Messages", check.messages, stats["messages"], check),
    ]
    for name, label in (("chatusers", "New chat users"), ("handovers", "Handovers")):
        words = "Userbot gives no total for the range: the sum of the days alone."
        lines.append(TotalLine(label, stats[name], None, "", words))
    if counted < days:
        lines = [TotalLine(t.label, t.days_sum, t.total, t.status, f"{t.words} {cover}") for t in lines]
    return lines


def nps_summary(reads: PageReads) -> dict[str, Any]:
    """The range's NPS from its days' summed counts, and each part's share in whole percent."""
    nps = reads.series.nps
    total = nps["total"] or 0
    parts = [
        (name.capitalize(), nps[name] or 0, round(100 * (nps[name] or 0) / total) if total else None)
        for name in ("positive", "neutral", "negative")
    ]
    return {
        "nps": nps["nps"],
        "total": total,
        "parts": parts,
        "counted": reads.series.counted["nps"],
        "days": reads.chosen.days,
    }


def sales_summary(reads: PageReads) -> dict[str, Any]:
    """Orders and revenue (per currency) summed over the days read, and the mean of the days'
    conversion rates: Userbot gives a rate per day only, not the visits behind it."""
    days = [day.sales for day in reads.series.days if day.sales is not None]
    revenue = sorted(reads.series.revenue.items())
    rates = [Decimal(day["conversion_rate"]) for day in days]
    mean = sum(rates) / len(rates) * 100 if rates else None
    return {
        "orders": reads.series.orders,
        "revenue": [(currency, f"{amount:,.2f}") for currency, amount in revenue],
        "mean_rate": None if mean is None else f"{mean:.2f}",
        "counted": len(days),
        "days": reads.chosen.days,
    }
