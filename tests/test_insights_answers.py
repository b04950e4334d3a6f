"""Answers that break the contract are kept as problems, drawn as missing, never as zeros:
one case per rule, through a sandbox whose answers the test tampers with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from insights.models import AccountBots, Audience, DayNps, DaySales, DayStats, RangeTotals
from insights.services import DayProblem, insights_refresh, insights_refresh_account
from sandbox.runner import SandboxHandle
from tests.hostile import on_item, on_items, on_payload
from tests.insights_world import start_demo_userbot

pytestmark = pytest.mark.django_db

START, END = date(2026, 11, 10), date(2026, 11, 16)
FIRST = START  # the day the first per-day answer is for
TWELFTH = date(2026, 11, 12)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_demo_userbot() as handle:
        yield handle


def _changed(**values: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, **values}

    return change


def _without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(payload: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in payload.items() if key != name}

    return change


def _on_twelfth(change: Callable[[dict[str, Any]], Any]) -> Any:
    return on_item("days", lambda day: day["date"] == "2026-11-12", change)


DAY_CASES = [
    (
        "rawstats.all",
        _on_twelfth(_without("sessions")),
        DayStats,
        TWELFTH,
        "rawstats.all: sessions: required",
    ),
    (
        "rawstats.all",
        _on_twelfth(_changed(messages=-1)),
        DayStats,
        TWELFTH,
        "rawstats.all: messages: must be at least 0",
    ),
    (
        "rawstats.count-nps",
        on_payload(_without("total")),
        DayNps,
        FIRST,
        "rawstats.count-nps: total: required",
    ),
    (
        "rawstats.count-nps",
        on_payload(_changed(neutral=-2)),
        DayNps,
        FIRST,
        "rawstats.count-nps: neutral: must be at least 0",
    ),
    (
        "rawstats.count-nps",
        on_payload(_changed(nps=-101)),
        DayNps,
        FIRST,
        "rawstats.count-nps: nps: must be at least -100",
    ),
    (
        "rawstats.count-nps",
        on_payload(_changed(positive=2, total=3)),
        DayNps,
        FIRST,
        "rawstats.count-nps: positive + neutral + negative is 2, but total is 3",
    ),
    (
        "rawstats.count-nps",
        on_payload(_changed(positive=1, negative=1, total=2, nps=40)),
        DayNps,
        FIRST,
        "rawstats.count-nps: nps is 40, but the counts give 0",
    ),
    (
        "rawstats.get",
        on_payload(_changed(currency="XYZ")),
        DaySales,
        FIRST,
        "rawstats.get: currency 'XYZ' is not an ISO 4217 code",
    ),
    (
        "rawstats.get",
        on_payload(_changed(conversion_rate=1.25)),
        DaySales,
        FIRST,
        "rawstats.get: conversion_rate 1.25 is over 1",
    ),
    (
        "rawstats.get",
        on_payload(_changed(revenue=-0.5)),
        DaySales,
        FIRST,
        "rawstats.get: revenue: must be at least 0",
    ),
    (
        "rawstats.get",
        on_payload(_changed(revenue=12.345)),
        DaySales,
        FIRST,
        "rawstats.get: revenue 12.345 is not a sum in cents",
    ),
    ("rawstats.get", on_payload(_without("orders")), DaySales, FIRST, "rawstats.get: orders: required"),
]


@pytest.mark.parametrize(
    ("channel", "hook", "model", "day", "problem"),
    DAY_CASES,
    ids=[f"{case[0]}: {case[4].split(': ', 1)[1]}" for case in DAY_CASES],
)
def test_a_day_whose_answer_breaks_a_rule_is_kept_as_a_problem_with_no_numbers(
    sandbox, bot, channel, hook, model, day, problem
):
    sandbox.server.tamper(channel, hook, times=1)

    report = insights_refresh(bot=bot, start=START, end=END)

    kind = {DayStats: "stats", DayNps: "nps", DaySales: "sales"}[model]
    row = model.objects.get(bot=bot, date=day)
    figures = [
        f.name
        for f in model._meta.concrete_fields
        if f.name not in ("id", "bot", "date", "read_at", "problem")
    ]
    assert row.problem == problem
    assert {name: getattr(row, name) for name in figures} == {
        name: ("" if name == "currency" else None) for name in figures
    }
    assert model.objects.filter(bot=bot).exclude(date=day).filter(problem="").count() == 6
    assert report.problems == (DayProblem(kind, day, problem),)


def test_a_day_answered_outside_the_range_fills_no_day_and_the_day_it_stood_for_is_missing(sandbox, bot):
    sandbox.server.tamper("rawstats.all", _on_twelfth(_changed(date="2026-11-30")), times=1)

    report = insights_refresh(bot=bot, start=START, end=END)

    stored = set(DayStats.objects.filter(bot=bot).values_list("date", flat=True))
    assert stored == {START + timedelta(days=n) for n in range(7)} - {TWELFTH}
    assert report.unanswered == (TWELFTH,)
    assert report.problems == (
        DayProblem(
            "stats",
            date(2026, 11, 30),
            "rawstats.all: answered 2026-11-30, outside the range asked (2026-11-10 to 2026-11-16)",
        ),
    )


def test_a_day_answered_twice_is_a_problem(sandbox, bot):
    sandbox.server.tamper(
        "rawstats.all", on_item("days", lambda day: day["date"] == "2026-11-13", _changed(date="2026-11-12"))
    )

    report = insights_refresh(bot=bot, start=START, end=END)

    assert DayStats.objects.get(bot=bot, date=TWELFTH).problem == "rawstats.all: answered 2026-11-12 2 times"
    assert report.unanswered == (date(2026, 11, 13),)


def test_an_answer_that_is_no_list_of_days_makes_every_day_a_problem(sandbox, bot):
    sandbox.server.tamper("rawstats.all", on_payload(lambda payload: {"days": "none"}))

    insights_refresh(bot=bot, start=START, end=END)

    problems = set(DayStats.objects.filter(bot=bot).values_list("problem", "sessions"))
    assert problems == {("rawstats.all: days: must be an array", None)}
    assert DayStats.objects.filter(bot=bot).count() == 7


def test_range_answers_that_break_a_rule_are_kept_as_problems(sandbox, bot):
    sandbox.server.tamper("rawstats.count-sessions", on_payload(lambda payload: {"total": -1}))
    sandbox.server.tamper("chatusers.insights", on_payload(_changed(new=1000)))

    report = insights_refresh(bot=bot, start=START, end=END)

    totals = RangeTotals.objects.get(bot=bot)
    audience = Audience.objects.get(bot=bot)
    assert (totals.sessions, totals.messages, totals.problem) == (
        None,
        None,
        "rawstats.count-sessions: total: must be at least 0",
    )
    assert (audience.total, audience.new, audience.by_channel, audience.problem) == (
        None,
        None,
        {},
        "chatusers.insights: new is 1000, more than total 266",
    )
    assert [(p.kind, p.date) for p in report.problems] == [("totals", None), ("audience", None)]


def test_an_audience_whose_split_does_not_add_up_is_a_problem(sandbox, bot):
    sandbox.server.tamper("chatusers.insights", on_payload(_changed(by_language={"it": 1})))

    insights_refresh(bot=bot, start=START, end=END)

    assert (
        Audience.objects.get(bot=bot).problem
        == "chatusers.insights: by_language adds up to 1, but total is 266"
    )


def test_a_day_read_valid_again_drops_its_problem(sandbox, bot):
    sandbox.server.tamper("rawstats.count-nps", on_payload(_changed(nps=99)), times=1)
    insights_refresh(bot=bot, start=START, end=END)

    insights_refresh(bot=bot, start=START, end=END)

    row = DayNps.objects.get(bot=bot, date=FIRST)
    assert (row.problem, row.total, row.nps) == ("", 0, 0)


def test_account_bots_that_break_the_contract_are_left_out_and_named(sandbox, bot):
    sandbox.server.tamper(
        "bot.stats",
        on_payload(
            lambda payload: {
                "bots": [
                    *payload["bots"],
                    {"sitekey": "broken", "name": "B", "sessions": -1, "messages": 0, "chatusers": 0},
                ]
            }
        ),
    )

    row = insights_refresh_account(start=START, end=END)

    assert [entry["sitekey"] for entry in row.bots] == ["test-bot"]
    assert row.problem == "bot.stats: bot 'broken': sessions: must be at least 0"
    assert AccountBots.objects.count() == 1


def test_days_are_matched_by_their_date_not_by_their_place_in_the_answer(sandbox, bot):
    sandbox.server.tamper("rawstats.all", on_items("days", lambda days: days[::-1]))

    report = insights_refresh(bot=bot, start=START, end=END)

    stats = DayStats.objects.filter(bot=bot).order_by("date")
    assert [(d.date.day, d.sessions, d.messages) for d in stats] == [
        (10, 0, 0),
        (11, 0, 0),
        (12, 2, 8),
        (13, 4, 26),
        (14, 1, 4),
        (15, 0, 0),
        (16, 1, 3),
    ]
    assert (report.problems, report.unanswered) == ((), ())
