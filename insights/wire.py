"""How Userbot's stats answers become the values insights keeps, or the reason they are not.

Each answer is checked against the AsyncAPI document first (``schema``), then against what
the document cannot say: counts that add up, a known currency, a rate within 0 to 1, a day
inside the range asked. An answer that fails either is kept as a problem, never as zeros.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from backoffice.userbot import schema
from backoffice.userbot.errors import PayloadInvalid
from insights.currencies import is_currency
from insights.nps import nps_of
from insights.ranges import days_of

STATS_FIELDS = ("sessions", "messages", "chatusers", "handovers")
NPS_FIELDS = ("positive", "neutral", "negative", "total", "nps")
SALES_FIELDS = ("orders", "revenue", "currency", "conversion_rate")
AUDIENCE_FIELDS = ("total", "new", "active", "by_channel", "by_language")
BOT_FIELDS = ("sitekey", "name", "sessions", "messages", "chatusers")
# What the sales columns hold: cents up to 999,999,999,999.99, a rate to four decimals.
REVENUE_MAX = Decimal("999999999999.99")


@dataclass(frozen=True, slots=True)
class Checked:
    """One answer read: the values to keep, or None and why it is not kept."""

    values: dict[str, Any] | None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class DaysRead:
    """A ``rawstats.all`` answer read: each day of the range it answered, and the entries
    that belong to no day of the range (why, in words)."""

    days: dict[date, Checked]
    stray: list[tuple[date | None, str]] = field(default_factory=list)


def _reason(fields: dict[str, str]) -> str:
    return "; ".join(f"{name}: {why}" for name, why in fields.items())


def _schema_problem(operation: str, payload: Any) -> str:
    try:
        schema.validate_response(operation, payload)
    except PayloadInvalid as exc:
        return f"{operation}: {_reason(exc.fields) or exc}"
    return ""


def _invalid(operation: str, why: str) -> Checked:
    return Checked(None, f"{operation}: {why}")


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def read_days(payload: Any, start: date, end: date) -> DaysRead:
    """The days of a ``rawstats.all`` answer for ``start``..``end``, matched by their date.

    An answer that is not a list of days makes every day of the range a problem. An entry
    for a day outside the range, or without a date, fills no day (the day it stood for is
    missing); a day answered twice is a problem."""
    operation = "rawstats.all"
    try:
        schema.check_envelope(operation, payload, "days")
    except PayloadInvalid as exc:
        broken = _invalid(operation, _reason(exc.fields))
        return DaysRead(dict.fromkeys(days_of(start, end), broken))
    entries = payload["days"]
    counted = Counter(_date(entry.get("date")) if isinstance(entry, dict) else None for entry in entries)
    read = DaysRead({})
    for index, entry in enumerate(entries):
        day = _date(entry.get("date")) if isinstance(entry, dict) else None
        if day is None:
            read.stray.append((None, f"{operation}: day [{index}] has no valid date"))
        elif not start <= day <= end:
            read.stray.append(
                (day, f"{operation}: answered {day}, outside the range asked ({start} to {end})")
            )
        elif counted[day] > 1:
            read.days[day] = _invalid(operation, f"answered {day} {counted[day]} times")
        elif rejected := schema.check_items(operation, "days", [entry]).rejected:
            read.days[day] = _invalid(operation, rejected[0].reason)
        else:
            read.days[day] = Checked({name: entry[name] for name in STATS_FIELDS})
    return read


def read_nps(payload: Any) -> Checked:
    """A ``rawstats.count-nps`` answer: counts that add up to ``total`` and the score they give."""
    operation = "rawstats.count-nps"
    if problem := _schema_problem(operation, payload):
        return Checked(None, problem)
    positive, neutral, negative, total, nps = (payload[name] for name in NPS_FIELDS)
    if positive + neutral + negative != total:
        added = positive + neutral + negative
        return _invalid(operation, f"positive + neutral + negative is {added}, but total is {total}")
    expected = nps_of(positive=positive, negative=negative, total=total) or 0
    if nps != expected:
        return _invalid(operation, f"nps is {nps}, but the counts give {expected}")
    return Checked({name: payload[name] for name in NPS_FIELDS})


def _decimal(value: float | int) -> Decimal:
    # repr is the shortest text that reads back as the same float: what Userbot wrote.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def read_sales(payload: Any) -> Checked:
    """A ``rawstats.get`` answer: revenue in cents of a known currency, a rate within 0 to 1."""
    operation = "rawstats.get"
    if problem := _schema_problem(operation, payload):
        return Checked(None, problem)
    revenue, rate, currency = (
        _decimal(payload["revenue"]),
        _decimal(payload["conversion_rate"]),
        payload["currency"],
    )
    if not is_currency(currency):
        return _invalid(operation, f"currency {currency!r} is not an ISO 4217 code")
    if rate > 1:
        return _invalid(operation, f"conversion_rate {rate} is over 1")
    if revenue.as_tuple().exponent < -2 or revenue > REVENUE_MAX:  # type: ignore[operator]
        return _invalid(operation, f"revenue {revenue} is not a sum in cents")
    if rate.as_tuple().exponent < -4:  # type: ignore[operator]
        return _invalid(operation, f"conversion_rate {rate} has more than four decimals")
    return Checked(
        {"orders": payload["orders"], "revenue": revenue, "currency": currency, "conversion_rate": rate}
    )


def read_total(operation: str, payload: Any) -> Checked:
    """A ``rawstats.count-sessions`` or ``rawstats.count-messages`` answer: ``{"total": n}``."""
    if problem := _schema_problem(operation, payload):
        return Checked(None, problem)
    return Checked({"total": payload["total"]})


def read_audience(payload: Any) -> Checked:
    """A ``chatusers.insights`` answer: new and active chat users within the total, and the
    total split by channel and by language."""
    operation = "chatusers.insights"
    if problem := _schema_problem(operation, payload):
        return Checked(None, problem)
    total = payload["total"]
    for name in ("new", "active"):
        if payload[name] > total:
            return _invalid(operation, f"{name} is {payload[name]}, more than total {total}")
    for name in ("by_channel", "by_language"):
        if (split := sum(payload[name].values())) != total:
            return _invalid(operation, f"{name} adds up to {split}, but total is {total}")
    return Checked({name: payload[name] for name in AUDIENCE_FIELDS})


def read_account_bots(payload: Any) -> tuple[list[dict[str, Any]], str]:
    """A ``bot.stats`` answer: the valid entries ordered by sitekey, and what was left out."""
    operation = "bot.stats"
    try:
        schema.check_envelope(operation, payload, "bots")
    except PayloadInvalid as exc:
        return [], f"{operation}: {_reason(exc.fields)}"
    problems: list[str] = []
    valid: list[dict[str, Any]] = []
    for index, entry in enumerate(payload["bots"]):
        if rejected := schema.check_items(operation, "bots", [entry]).rejected:
            sitekey = entry.get("sitekey") if isinstance(entry, dict) else None
            named = f"bot {sitekey!r}" if isinstance(sitekey, str) else f"bot [{index}]"
            problems.append(f"{named}: {rejected[0].reason}")
        else:
            valid.append({name: entry[name] for name in BOT_FIELDS})
    sitekeys = Counter(entry["sitekey"] for entry in valid)
    if repeated := sorted(key for key, count in sitekeys.items() if count > 1):
        problems.append(f"answered twice: {', '.join(repeated)}")
    bots = sorted((entry for entry in valid if sitekeys[entry["sitekey"]] == 1), key=lambda e: e["sitekey"])
    return bots, f"{operation}: {'; '.join(problems)}" if problems else ""
