"""The sandbox's statistics, computed from the bot's own data for an inclusive date range.

Rules the wire contract leaves open, chosen here:

- A day is a UTC date. A session counts on the day it started, a message on the day it was
  sent, a chat user on the day it was created.
- A handover is a session that went to an agent: it is with an agent now, it holds an
  ``agent_id``, or an agent spoke in it. It counts on the day the session started.
- NPS from feedback created in the range: rating 5 is positive (a promoter), 4 neutral (a
  passive), 1 to 3 negative (a detractor). ``nps`` is ``100 * (positive - negative) /
  total`` rounded half away from zero to an integer, from -100 to 100, and 0 with no
  feedback.
- Sales (``rawstats.get``) add up the bot's ``sales_days`` in the range: ``revenue`` in
  euros rounded to cents, ``conversion_rate`` is orders per visit as a fraction (0 to 1)
  rounded to four decimals, 0 with no visits.
- ``bot.stats`` reports every bot of the sandbox, by sitekey: sessions started, messages
  sent and chat users created in the range.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import date, timedelta
from typing import Any

from sandbox.registry import Context, invalid, operation
from sandbox.store import BotState, JSONDict

CURRENCY = "EUR"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_range(payload: Any) -> tuple[str, str]:
    """The ``(from, to)`` dates of a stats request as ``YYYY-MM-DD``, checked, inclusive."""
    if not isinstance(payload, dict):
        raise invalid("the payload must be a JSON object", {"payload": "must be an object"})
    fields: dict[str, str] = {}
    for name in ("from", "to"):
        value = payload.get(name)
        if not isinstance(value, str) or not _DATE.fullmatch(value) or not _is_date(value):
            fields[name] = "required, a date YYYY-MM-DD"
    if fields:
        raise invalid("from and to must be dates", fields)
    start, end = payload["from"], payload["to"]
    if start > end:
        raise invalid("from is after to", {"from": "after to", "to": "before from"})
    return start, end


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _days(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _in(start: str, end: str, when: str | None) -> bool:
    return when is not None and start <= when[:10] <= end


def _handed_over(bot: BotState, session: JSONDict) -> bool:
    if session["status"] == "agent" or session.get("agent_id") is not None:
        return True
    return any(message["from"] == "agent" for message in bot.messages.get(session["id"], ()))


def _sessions_in(bot: BotState, start: str, end: str) -> list[JSONDict]:
    return [s for s in bot.sessions.values() if _in(start, end, s["started_at"])]


def _messages_in(bot: BotState, start: str, end: str) -> list[JSONDict]:
    return [m for messages in bot.messages.values() for m in messages if _in(start, end, m["at"])]


def _chatusers_created_in(bot: BotState, start: str, end: str) -> int:
    return sum(1 for user in bot.chatusers.values() if start <= user["created_at"][:10] <= end)


@operation("rawstats.count-sessions")
def count_sessions(ctx: Context, payload: Any) -> JSONDict:
    """How many sessions started in the range."""
    start, end = date_range(payload)
    return {"total": len(_sessions_in(ctx.bot, start, end))}


@operation("rawstats.count-messages")
def count_messages(ctx: Context, payload: Any) -> JSONDict:
    """How many messages (visitor, bot and agent) were sent in the range."""
    start, end = date_range(payload)
    return {"total": len(_messages_in(ctx.bot, start, end))}


@operation("rawstats.count-nps")
def count_nps(ctx: Context, payload: Any) -> JSONDict:
    """Feedback in the range split by rating, and the net promoter score."""
    start, end = date_range(payload)
    ratings = [f["rating"] for f in ctx.bot.feedback.values() if _in(start, end, f["created_at"])]
    positive = sum(1 for rating in ratings if rating == 5)
    neutral = sum(1 for rating in ratings if rating == 4)
    negative = len(ratings) - positive - neutral
    total = len(ratings)
    nps = 0
    if total:
        score = 100 * (positive - negative) / total
        nps = int(math.copysign(math.floor(abs(score) + 0.5), score))
    return {"positive": positive, "neutral": neutral, "negative": negative, "total": total, "nps": nps}


@operation("rawstats.all")
def all_stats(ctx: Context, payload: Any) -> JSONDict:
    """One entry per day of the range, days without activity included as zeros."""
    start, end = date_range(payload)
    bot = ctx.bot
    sessions = _sessions_in(bot, start, end)
    by_day_sessions = Counter(s["started_at"][:10] for s in sessions)
    by_day_handovers = Counter(s["started_at"][:10] for s in sessions if _handed_over(bot, s))
    by_day_messages = Counter(m["at"][:10] for m in _messages_in(bot, start, end))
    by_day_chatusers = Counter(
        day for user in bot.chatusers.values() if start <= (day := user["created_at"][:10]) <= end
    )
    return {
        "days": [
            {
                "date": day,
                "sessions": by_day_sessions[day],
                "messages": by_day_messages[day],
                "chatusers": by_day_chatusers[day],
                "handovers": by_day_handovers[day],
            }
            for day in _days(start, end)
        ]
    }


@operation("rawstats.get")
def sales(ctx: Context, payload: Any) -> JSONDict:
    """Orders, revenue and conversion rate over the range, from the bot's daily sales."""
    start, end = date_range(payload)
    days = [row for day, row in ctx.bot.sales_days.items() if start <= day <= end]
    orders = sum(int(row.get("orders", 0)) for row in days)
    visits = sum(int(row.get("visits", 0)) for row in days)
    revenue = round(sum((float(row.get("revenue", 0)) for row in days), 0.0), 2)
    return {
        "orders": orders,
        "revenue": revenue,
        "currency": CURRENCY,
        "conversion_rate": round(orders / visits, 4) if visits else 0.0,
    }


@operation("bot.stats")
def bot_stats(ctx: Context, payload: Any) -> JSONDict:
    """Sessions, messages and new chat users in the range for every bot, by sitekey."""
    start, end = date_range(payload)
    return {
        "bots": [
            {
                "sitekey": bot.sitekey,
                "name": bot.name,
                "sessions": len(_sessions_in(bot, start, end)),
                "messages": len(_messages_in(bot, start, end)),
                "chatusers": _chatusers_created_in(bot, start, end),
            }
            for _, bot in sorted(ctx.store.bots.items())
        ]
    }
