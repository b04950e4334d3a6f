"""Writes of insights: reading a range's numbers from Userbot and keeping them.

A refresh asks everything first, on one connection, and writes only once every answer has
come: Userbot failing (an error status, a timeout, no connection) raises RefreshFailed and
leaves the stored rows as they were. Answers that came but break the contract are stored
as problems (``insights.wire``), so a page draws those days as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.connections import client_for
from backoffice.userbot.models import Bot
from insights import wire
from insights.models import AccountBots, Audience, DayNps, DaySales, DayStats, InsightsState, RangeTotals
from insights.ranges import check_range, days_of, runs, utc_today
from insights.reading import RefreshFailed, ask, range_requests
from insights.selectors import missing_days

__all__ = [
    "DayProblem",
    "RefreshFailed",
    "RefreshReport",
    "insights_backfill",
    "insights_refresh",
    "insights_refresh_account",
    "insights_state_record_failure",
]

_RANGE_ANSWERS = 4  # rawstats.all, count-sessions, count-messages, chatusers.insights


@dataclass(frozen=True, slots=True)
class DayProblem:
    """An answer kept as a problem: its kind (``stats``, ``nps``, ``sales``, ``totals``,
    ``audience``), its day (None for the range's own answers) and why."""

    kind: str
    date: date | None
    problem: str


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What a refresh read: how many days of each kind it stored (valid or not), which
    answers were problems, and which days ``rawstats.all`` did not answer (left as they were)."""

    bot_id: int
    start: date
    end: date
    read_at: datetime
    stored: dict[str, int]
    problems: tuple[DayProblem, ...]
    unanswered: tuple[date, ...]

    def __str__(self) -> str:
        counts = ", ".join(f"{count} {kind}" for kind, count in self.stored.items())
        return (
            f"bot {self.bot_id}, {self.start} to {self.end}: stored {counts}; "
            f"{len(self.problems)} problems, {len(self.unanswered)} days unanswered"
        )


def insights_refresh(*, bot: Bot, start: date, end: date) -> RefreshReport:
    """Read the bot's numbers for ``start``..``end`` (UTC days, inclusive) and keep them.

    A range that starts after it ends, spans more than 366 days or ends after today is
    refused (RangeRefused) before anything is asked."""
    check_range(start, end, today=utc_today())
    with client_for(bot) as client:
        return _refresh(client, bot=bot, start=start, end=end)


def insights_backfill(*, bot: Bot, days: int) -> list[RefreshReport]:
    """Read the days of the last ``days`` (today included) that have no row of some kind,
    oldest first, as ranges of consecutive missing days of at most 31 days each.

    A day kept with a problem is not missing: Userbot answered it, and will answer the same
    again; a refresh of its range reads it anew. A failure stops the backfill there (what
    was read before it is kept) and raises RefreshFailed."""
    today = utc_today()
    wanted = missing_days(bot=bot, start=today - timedelta(days=max(days, 1) - 1), end=today)
    if not wanted:
        return []
    with client_for(bot) as client:
        return [_refresh(client, bot=bot, start=start, end=end) for start, end in runs(wanted)]


def insights_refresh_account(*, start: date, end: date) -> AccountBots:
    """Read every bot of the account over ``start``..``end`` (``bot.stats``) and keep it.

    ``bot.stats`` needs no chosen bot, but a connection logs in as one: the first bot set up
    (lowest id) is asked through, so the account is that bot's. The range is checked as
    ``insights_refresh`` checks it."""
    check_range(start, end, today=utc_today())
    through = Bot.objects.order_by("pk").first()
    if through is None:
        raise RefreshFailed("no bot is set up to ask Userbot through", transient=False)
    with client_for(through) as client:
        [payload] = ask(client, [api.bot_stats(from_date=start, to_date=end)])
    bots, problem = wire.read_account_bots(payload)
    row = AccountBots(start=start, end=end, bots=bots, problem=problem, read_at=timezone.now())
    [row] = AccountBots.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["start", "end"],
        update_fields=["bots", "problem", "read_at"],
    )
    return row


def insights_state_record_failure(*, bot: Bot, reason: str) -> None:
    """Keep a failure the tasks gave up on where an operator sees it (``InsightsState``)."""
    state = InsightsState(bot=bot, last_error=reason, last_error_at=timezone.now())
    InsightsState.objects.bulk_create(
        [state], update_conflicts=True, unique_fields=["bot"], update_fields=["last_error", "last_error_at"]
    )


def _refresh(client: UserbotClient, *, bot: Bot, start: date, end: date) -> RefreshReport:
    days = days_of(start, end)
    answers = ask(client, range_requests(start, end, days))
    read_at = timezone.now()
    stats = wire.read_days(answers[0], start, end)
    totals = _totals(bot, start, end, read_at, answers[1], answers[2])
    audience = wire.read_audience(answers[3])
    per_day = answers[_RANGE_ANSWERS:]
    nps = {day: wire.read_nps(payload) for day, payload in zip(days, per_day[0::2], strict=True)}
    sales = {day: wire.read_sales(payload) for day, payload in zip(days, per_day[1::2], strict=True)}
    with transaction.atomic():
        _upsert_days(DayStats, bot, stats.days, read_at)
        _upsert_days(DayNps, bot, nps, read_at)
        _upsert_days(DaySales, bot, sales, read_at)
        _upsert_range(totals)
        _upsert_range(Audience(bot=bot, start=start, end=end, read_at=read_at, **_fields(Audience, audience)))
        InsightsState.objects.bulk_create(
            [InsightsState(bot=bot, last_collected_at=read_at)],
            update_conflicts=True,
            unique_fields=["bot"],
            update_fields=["last_collected_at"],
        )
    problems = [
        *(
            DayProblem(kind, day, checked.problem)
            for kind, checked_days in (("stats", stats.days), ("nps", nps), ("sales", sales))
            for day, checked in checked_days.items()
            if checked.problem
        ),
        *(DayProblem("stats", day, why) for day, why in stats.stray),
        *(
            DayProblem(kind, None, why)
            for kind, why in (("totals", totals.problem), ("audience", audience.problem))
            if why
        ),
    ]
    return RefreshReport(
        bot_id=bot.pk,
        start=start,
        end=end,
        read_at=read_at,
        stored={"stats": len(stats.days), "nps": len(nps), "sales": len(sales)},
        problems=tuple(problems),
        unanswered=tuple(day for day in days if day not in stats.days),
    )


def _totals(bot: Bot, start: date, end: date, read_at: datetime, sessions: Any, messages: Any) -> RangeTotals:
    """The range's totals; if either answer is not valid, neither number is kept."""
    checked = [
        wire.read_total("rawstats.count-sessions", sessions),
        wire.read_total("rawstats.count-messages", messages),
    ]
    problem = "; ".join(c.problem for c in checked if c.problem)
    numbers = [None if problem or c.values is None else c.values["total"] for c in checked]
    return RangeTotals(
        bot=bot,
        start=start,
        end=end,
        sessions=numbers[0],
        messages=numbers[1],
        problem=problem,
        read_at=read_at,
    )


def _fields(model: type[models.Model], checked: wire.Checked) -> dict[str, Any]:
    """The model's figures from an answer; for a problem, every figure empty and the reason."""
    names = [f.name for f in model._meta.concrete_fields if f.name not in _NOT_FIGURES]
    if checked.values is None:
        return {"problem": checked.problem, **{n: _empty(model, n) for n in names}}
    return {"problem": "", **{n: checked.values[n] for n in names}}


_NOT_FIGURES = frozenset({"id", "bot", "date", "start", "end", "read_at", "problem"})


def _empty(model: type[models.Model], name: str) -> Any:
    field = model._meta.get_field(name)
    if field.null:
        return None
    return field.get_default()


def _upsert_days(
    model: type[DayStats | DayNps | DaySales], bot: Bot, days: dict[date, wire.Checked], read_at: datetime
) -> None:
    """Insert or overwrite the day rows in one statement per thousand days, in date order:
    two refreshes of overlapping ranges then lock their rows in the same order, and so
    cannot deadlock, whatever order Userbot answered the days in."""
    rows = [
        model(bot=bot, date=day, read_at=read_at, **_fields(model, checked))
        for day, checked in sorted(days.items())
    ]
    update = [f.name for f in model._meta.concrete_fields if f.name not in ("id", "bot", "date")]
    model.objects.bulk_create(  # type: ignore[attr-defined]
        rows, batch_size=1000, update_conflicts=True, unique_fields=["bot", "date"], update_fields=update
    )


def _upsert_range(row: RangeTotals | Audience) -> None:
    model = type(row)
    update = [f.name for f in model._meta.concrete_fields if f.name not in ("id", "bot", "start", "end")]
    model.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["bot", "start", "end"], update_fields=update
    )
