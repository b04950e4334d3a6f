"""The sandbox as insights' peer: one seed gives one history, its days add up to its range
totals, and its NPS is what the feedback says; so what insights keeps of it checks out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from insights.nps import nps_of
from insights.selectors import range_check, series
from insights.services import insights_refresh
from sandbox.runner import SandboxHandle
from tests.insights_world import TODAY, start_demo_userbot

# The whole demo history (90 days up to its clock) and a few days past it.
HISTORY = {"from": "2026-08-20", "to": "2026-11-30"}


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_demo_userbot() as handle:
        yield handle


def _stats_answers(raw_ws: Any) -> list[Any]:
    days = raw_ws.ok("rawstats.all", HISTORY)["days"]
    each = [
        raw_ws.ok(op, {"from": d["date"], "to": d["date"]})
        for d in days
        for op in ("rawstats.count-nps", "rawstats.get")
    ]
    return [days, each, raw_ws.ok("chatusers.insights", HISTORY), raw_ws.ok("bot.stats", HISTORY)]


def test_one_seed_gives_the_same_stats_every_time(open_ws):
    with start_demo_userbot() as first, start_demo_userbot() as second:
        answers = [_stats_answers(open_ws(url=handle.url)) for handle in (first, second)]

    assert answers[0] == answers[1]
    assert sum(day["sessions"] for day in answers[0][0]) > 0


def test_the_days_add_up_to_the_range_totals(raw_ws):
    days = raw_ws.ok("rawstats.all", HISTORY)["days"]
    [bot] = raw_ws.ok("bot.stats", HISTORY)["bots"]

    sessions = sum(day["sessions"] for day in days)
    messages = sum(day["messages"] for day in days)
    chatusers = sum(day["chatusers"] for day in days)
    assert raw_ws.ok("rawstats.count-sessions", HISTORY) == {"total": sessions}
    assert raw_ws.ok("rawstats.count-messages", HISTORY) == {"total": messages}
    assert raw_ws.ok("chatusers.insights", HISTORY)["new"] == chatusers
    assert (bot["sessions"], bot["messages"], bot["chatusers"]) == (sessions, messages, chatusers)
    assert sessions > 0 and messages > sessions


def test_the_nps_of_each_day_and_of_the_range_is_what_the_feedback_gives(raw_ws):
    feedback = raw_ws.ok("chatusers.get-feedback", {"offset": 0, "limit": 1000})["feedback"]
    by_day: dict[str, list[int]] = {}
    for item in feedback:
        by_day.setdefault(item["created_at"][:10], []).append(item["rating"])

    whole = raw_ws.ok("rawstats.count-nps", HISTORY)
    for day, ratings in by_day.items():
        answer = raw_ws.ok("rawstats.count-nps", {"from": day, "to": day})
        counts = (ratings.count(5), ratings.count(4), sum(1 for r in ratings if r <= 3), len(ratings))
        assert tuple(answer[name] for name in ("positive", "neutral", "negative", "total")) == counts, day
        assert answer["nps"] == nps_of(positive=counts[0], negative=counts[2], total=counts[3]), day
    ratings = [item["rating"] for item in feedback]
    positive, negative = ratings.count(5), sum(1 for r in ratings if r <= 3)
    assert (whole["positive"], whole["negative"], whole["total"]) == (positive, negative, len(ratings))
    assert whole["nps"] == nps_of(positive=positive, negative=negative, total=len(ratings))
    assert len(ratings) > 10


@pytest.mark.django_db
def test_what_insights_keeps_of_the_sandbox_checks_out(sandbox, bot, raw_ws):
    start = TODAY - timedelta(days=89)

    insights_refresh(bot=bot, start=start, end=TODAY)

    check = range_check(bot=bot, start=start, end=TODAY)
    days = series(bot=bot, start=start, end=TODAY)
    whole = raw_ws.ok("rawstats.count-nps", {"from": start.isoformat(), "to": TODAY.isoformat()})
    assert (check.sessions.status, check.messages.status, check.why) == ("agree", "agree", "")
    assert days.nps == whole
    assert days.counted == {"stats": 90, "nps": 90, "sales": 90}
    assert date(2026, 8, 27) == start
