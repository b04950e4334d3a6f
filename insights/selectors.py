"""Reads of insights for pages and exports, from the stored rows alone.

Each selector costs a fixed number of queries, whatever the range's length or the number of
bots: its docstring says how many. A day with no row (never answered) and a day kept with a
problem both come out as None, the problem named, so a chart draws a gap, never a zero.
Ranges are checked as ``ranges.check_range`` says (at most 366 days, not backwards).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from django.db.models import Count, Max, Min, Q, Sum, TextField
from django.db.models.functions import Cast

from backoffice.userbot.models import Bot
from insights.models import DayNps, DaySales, DayStats, InsightsState, RangeTotals
from insights.nps import nps_of
from insights.ranges import check_range, days_of

KINDS: dict[str, tuple[type[DayStats | DayNps | DaySales], tuple[str, ...]]] = {
    "stats": (DayStats, ("sessions", "messages", "chatusers", "handovers")),
    "nps": (DayNps, ("positive", "neutral", "negative", "total", "nps")),
    "sales": (DaySales, ("orders", "revenue", "currency", "conversion_rate")),
}
NPS_COUNTS = ("positive", "neutral", "negative", "total")


@dataclass(frozen=True, slots=True)
class SeriesDay:
    """One day: per kind (``stats``, ``nps``, ``sales``) its figures, or None when the day is
    missing or invalid; ``problems`` names, per kind, why an invalid day is not drawn, and
    ``read_at`` when each kind's row was read, valid or not (a missing day has none)."""

    date: date
    stats: dict[str, int] | None
    nps: dict[str, int] | None
    sales: dict[str, Any] | None
    problems: dict[str, str]
    read_at: dict[str, datetime]


@dataclass(frozen=True, slots=True)
class Series:
    """Every day of a range in order, and sums over the days that hold figures.

    ``counted`` says per kind how many days the sums cover (the others are missing or
    invalid). ``nps`` sums the counts and scores them (None without feedback); revenue is
    summed per currency, since sums across currencies mean nothing."""

    start: date
    end: date
    days: list[SeriesDay]
    stats: dict[str, int]
    nps: dict[str, int | None]
    orders: int
    revenue: dict[str, Decimal]
    counted: dict[str, int]


class _DayRow(NamedTuple):
    """A stored day of one kind as ``series`` reads it: its figures in ``KINDS``' order."""

    problem: str
    read_at: datetime
    numbers: list[Any]


def series(*, bot: Bot, start: date, end: date) -> Series:
    """The bot's days from ``start`` to ``end``, each with when it was read. Three queries
    (one per kind)."""
    check_range(start, end)
    found: dict[str, dict[date, _DayRow]] = {}
    moments: dict[str, datetime] = {}
    for kind, (model, names) in KINDS.items():
        # read_at as text, each distinct moment parsed once: Django reads a timestamptz in
        # Python, a few microseconds each, and a range's days are mostly read at a few moments.
        rows = (
            model.objects.filter(bot=bot, date__range=(start, end))
            .annotate(read_text=Cast("read_at", TextField()))
            .values_list("date", "problem", "read_text", *names)
        )
        found[kind] = {}
        for day, problem, read_text, *numbers in rows:
            if read_text not in moments:
                moments[read_text] = datetime.fromisoformat(read_text)
            found[kind][day] = _DayRow(problem, moments[read_text], numbers)
    days = [_series_day(day, found) for day in days_of(start, end)]
    stats = {name: sum(d.stats[name] for d in days if d.stats) for name in KINDS["stats"][1]}
    counts = {name: sum(d.nps[name] for d in days if d.nps) for name in NPS_COUNTS}
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for day in days:
        if day.sales:
            revenue[day.sales["currency"]] += day.sales["revenue"]
    return Series(
        start=start,
        end=end,
        days=days,
        stats=stats,
        nps={
            **counts,
            "nps": nps_of(positive=counts["positive"], negative=counts["negative"], total=counts["total"]),
        },
        orders=sum(d.sales["orders"] for d in days if d.sales),
        revenue=dict(revenue),
        counted={kind: sum(1 for d in days if getattr(d, kind)) for kind in KINDS},
    )


def _series_day(day: date, found: dict[str, dict[date, _DayRow]]) -> SeriesDay:
    figures: dict[str, dict[str, Any] | None] = {}
    problems: dict[str, str] = {}
    read_at: dict[str, datetime] = {}
    for kind, (_, names) in KINDS.items():
        row = found[kind].get(day)
        figures[kind] = None
        if row is None:
            continue
        read_at[kind] = row.read_at
        if row.problem:
            problems[kind] = row.problem
        else:
            figures[kind] = dict(zip(names, row.numbers, strict=True))
    return SeriesDay(day, figures["stats"], figures["nps"], figures["sales"], problems, read_at)


@dataclass(frozen=True, slots=True)
class WeekNps:
    """An ISO week's NPS, from the counts of its days inside the range (``start``..``end``,
    so the first and last weeks may be partial); ``counted`` days had valid NPS rows."""

    year: int
    week: int
    start: date
    end: date
    counted: int
    positive: int
    neutral: int
    negative: int
    total: int
    nps: int | None


def weekly_nps(*, bot: Bot, start: date, end: date) -> list[WeekNps]:
    """The range's NPS per ISO week, scored from the week's summed counts (as Userbot scores:
    half away from zero), None for a week without feedback. One query."""
    check_range(start, end)
    rows = DayNps.objects.filter(bot=bot, date__range=(start, end), problem="").values("date", *NPS_COUNTS)
    by_day = {row["date"]: row for row in rows}
    weeks: dict[tuple[int, int], list[date]] = {}
    for day in days_of(start, end):
        year, week, _ = day.isocalendar()
        weeks.setdefault((year, week), []).append(day)
    result = []
    for (year, week), days in weeks.items():
        counted = [by_day[day] for day in days if day in by_day]
        sums = {name: sum(row[name] for row in counted) for name in NPS_COUNTS}
        score = nps_of(positive=sums["positive"], negative=sums["negative"], total=sums["total"])
        result.append(WeekNps(year, week, days[0], days[-1], len(counted), **sums, nps=score))
    return result


Agreement = Literal["agree", "disagree", "not read"]


@dataclass(frozen=True, slots=True)
class FigureCheck:
    """A range total as Userbot gave it against the sum of the range's days."""

    status: Agreement
    total: int | None
    days_sum: int | None


@dataclass(frozen=True, slots=True)
class RangeCheck:
    """Whether the stored totals of exactly this range agree with its days; ``why`` says
    why they could not be compared (``not read``)."""

    start: date
    end: date
    read_at: datetime | None
    sessions: FigureCheck
    messages: FigureCheck
    why: str


def range_check(*, bot: Bot, start: date, end: date) -> RangeCheck:
    """The range's totals against the sums of its days. They are compared only when the
    totals of exactly this range were read and valid, and every day was read with them (the
    same refresh): a day missing, invalid or read again since makes them ``not read``. Two
    queries."""
    check_range(start, end)
    totals = RangeTotals.objects.filter(bot=bot, start=start, end=end).first()
    days = DayStats.objects.filter(bot=bot, date__range=(start, end)).aggregate(
        sessions=Sum("sessions"),
        messages=Sum("messages"),
        valid=Count("pk", filter=Q(problem="")),
        first_read=Min("read_at"),
        last_read=Max("read_at"),
    )
    length = (end - start).days + 1
    why = ""
    if totals is None:
        why = "the totals of this range were never read"
    elif totals.problem:
        why = f"the totals were not valid: {totals.problem}"
    elif days["valid"] < length:
        why = f"{length - days['valid']} of the {length} days are missing or not valid"
    elif not days["first_read"] == days["last_read"] == totals.read_at:
        why = "some days were read again after the totals"
    checks = {}
    for name in ("sessions", "messages"):
        total = None if totals is None else getattr(totals, name)
        status: Agreement = "not read" if why else ("agree" if total == days[name] else "disagree")
        checks[name] = FigureCheck(status, total, days[name])
    read_at = None if totals is None else totals.read_at
    return RangeCheck(start, end, read_at, checks["sessions"], checks["messages"], why)


@dataclass(frozen=True, slots=True)
class Trend:
    """One figure of a bot: today so far, the last 7 full days (before today) and the 7
    before them; each None when none of its days holds the figure, with how many did."""

    today: int | None
    last_7: int | None
    previous_7: int | None
    last_7_days: int
    previous_7_days: int

    @property
    def difference(self) -> int | None:
        if self.last_7 is None or self.previous_7 is None:
            return None
        return self.last_7 - self.previous_7


DASHBOARD_FIGURES = ("sessions", "messages", "chatusers", "handovers", "nps")
WINDOWS = ("today", "last_7", "previous_7")


def dashboard_figures(*, bots: Iterable[Bot], today: date) -> dict[int, dict[str, Trend]]:
    """Per bot id, ``DASHBOARD_FIGURES`` as Trends: sessions, messages, new chat users and
    handovers summed, NPS scored from the summed counts. Two queries for all the bots (a
    queryset given as ``bots`` costs one more, to list them)."""
    ids = [bot.pk for bot in bots]
    windows = {  # keyed as WINDOWS
        "today": (today, today),
        "last_7": (today - timedelta(days=7), today - timedelta(days=1)),
        "previous_7": (today - timedelta(days=14), today - timedelta(days=8)),
    }
    sums = {}
    for model, names in ((DayStats, KINDS["stats"][1]), (DayNps, ("positive", "negative", "total"))):
        aggregates: dict[str, Any] = {}
        for window, span in windows.items():
            aggregates[f"days_{window}"] = Count("pk", filter=Q(date__range=span, problem=""))
            for name in names:
                aggregates[f"{name}_{window}"] = Sum(name, filter=Q(date__range=span))
        rows = model.objects.filter(bot_id__in=ids, date__range=(today - timedelta(days=14), today))
        sums[model] = {row["bot_id"]: row for row in rows.values("bot_id").annotate(**aggregates)}
    return {bot_id: _trends(sums[DayStats].get(bot_id, {}), sums[DayNps].get(bot_id, {})) for bot_id in ids}


def _trends(stats: dict[str, Any], nps: dict[str, Any]) -> dict[str, Trend]:
    def trend(values: dict[str, int | None], source: dict[str, Any]) -> Trend:
        return Trend(
            values["today"],
            values["last_7"],
            values["previous_7"],
            source.get("days_last_7", 0),
            source.get("days_previous_7", 0),
        )

    figures = {
        name: trend({w: stats.get(f"{name}_{w}") for w in WINDOWS}, stats) for name in KINDS["stats"][1]
    }
    figures["nps"] = trend({w: _score(nps, w) for w in WINDOWS}, nps)
    return figures


def _score(nps: dict[str, Any], window: str) -> int | None:
    if not nps.get(f"days_{window}"):
        return None
    return nps_of(**{name: nps[f"{name}_{window}"] for name in ("positive", "negative", "total")})


def missing_days(*, bot: Bot, start: date, end: date) -> list[date]:
    """The days from ``start`` to ``end`` (any length) without a row of some kind (a row with
    a problem counts as answered), oldest first. Three queries."""
    have = [
        set(model.objects.filter(bot=bot, date__range=(start, end)).values_list("date", flat=True))
        for model, _ in KINDS.values()
    ]
    return [day for day in days_of(start, end) if not all(day in dates for dates in have)]


def bots_missing_days(*, bots: Iterable[Bot], start: date, end: date) -> list[int]:
    """The ids of the bots (in the order given) that miss days from ``start`` to ``end``.
    Three queries."""
    ids = [bot.pk for bot in bots]
    length = (end - start).days + 1
    short: set[int] = set()
    for model, _ in KINDS.values():
        counts = dict(
            model.objects.filter(bot_id__in=ids, date__range=(start, end))
            .values("bot_id")
            .annotate(days=Count("pk"))
            .values_list("bot_id", "days")
        )
        short |= {bot_id for bot_id in ids if counts.get(bot_id, 0) < length}
    return [bot_id for bot_id in ids if bot_id in short]


def insights_states(*, bots: Iterable[Bot]) -> dict[int, InsightsState]:
    """How collecting goes for each bot that was ever collected or failed, by bot id. One query."""
    return {
        state.bot_id: state for state in InsightsState.objects.filter(bot_id__in=[bot.pk for bot in bots])
    }
