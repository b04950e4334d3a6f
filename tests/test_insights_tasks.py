"""The periodic collection and the backfill: which days they ask, in which ranges, and how
they retry, against the demo history's sandbox at its fixed clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.conf import settings

from backoffice.userbot.models import Bot
from insights import services, tasks
from insights.models import DayNps, DaySales, DayStats, InsightsState
from insights.services import insights_refresh
from sandbox.runner import SandboxHandle
from tests.conftest import APIKEY
from tests.hostile import refuse
from tests.insights_world import TODAY, start_demo_userbot

pytestmark = pytest.mark.django_db

WINDOW = 70  # days the backfill looks back in these tests, today included
FIRST_DAY = TODAY - timedelta(days=WINDOW - 1)  # 2026-09-16


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_demo_userbot(sitekeys=("test-bot", "other-bot")) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fixed_today(monkeypatch: Any, settings: Any) -> None:
    """Today is the last day of the demo history, and the backfill looks WINDOW days back."""
    monkeypatch.setattr(services, "utc_today", lambda: TODAY)
    monkeypatch.setattr(tasks, "utc_today", lambda: TODAY)
    settings.INSIGHTS_BACKFILL_DAYS = WINDOW


@pytest.fixture
def other_bot(sandbox: SandboxHandle) -> Bot:
    other = Bot(name="Other bot", sitekey="other-bot", server_url=sandbox.url)
    other.set_apikey(APIKEY)
    other.save()
    return other


@pytest.fixture
def queued(monkeypatch: Any) -> list[int]:
    backfills: list[int] = []
    monkeypatch.setattr(tasks.backfill, "delay", backfills.append)
    return backfills


def _days(model: Any, bot: Bot) -> set[date]:
    return set(model.objects.filter(bot=bot).values_list("date", flat=True))


def test_backfill_reads_exactly_the_missing_days_oldest_first_in_ranges_of_at_most_31_days(sandbox, bot):
    insights_refresh(bot=bot, start=date(2026, 10, 1), end=date(2026, 10, 10))
    insights_refresh(bot=bot, start=date(2026, 10, 20), end=date(2026, 10, 20))
    DayNps.objects.filter(bot=bot, date=date(2026, 10, 5)).delete()
    kept = dict(
        DayStats.objects.filter(bot=bot).exclude(date=date(2026, 10, 5)).values_list("date", "read_at")
    )
    sandbox.server.frames.clear()

    result = tasks.backfill.apply(args=[bot.pk]).get()

    assert sandbox.server.ranges("rawstats.all") == [
        (date(2026, 9, 16), date(2026, 9, 30)),
        (date(2026, 10, 5), date(2026, 10, 5)),
        (date(2026, 10, 11), date(2026, 10, 19)),
        (date(2026, 10, 21), date(2026, 11, 20)),
        (date(2026, 11, 21), date(2026, 11, 24)),
    ]
    window = {FIRST_DAY + timedelta(days=n) for n in range(WINDOW)}
    assert _days(DayStats, bot) == _days(DayNps, bot) == _days(DaySales, bot) == window
    assert {day: DayStats.objects.get(bot=bot, date=day).read_at for day in kept} == kept
    assert result.startswith("read 5 ranges: ")


def test_backfill_of_a_bot_missing_nothing_asks_nothing(sandbox, bot):
    services.insights_backfill(bot=bot, days=WINDOW)
    sandbox.server.frames.clear()

    result = tasks.backfill.apply(args=[bot.pk]).get()

    assert (result, sandbox.server.frames) == ("read 0 ranges: ", [])


def test_backfill_tries_a_transient_failure_again_and_goes_on_from_the_first_missing_day(sandbox, bot):
    sandbox.server.tamper("rawstats.all", refuse(500), times=2)

    tasks.backfill.apply(args=[bot.pk]).get()

    asked = sandbox.server.ranges("rawstats.all")
    assert asked[:3] == [(FIRST_DAY, FIRST_DAY + timedelta(days=30))] * 3
    assert len(_days(DayStats, bot)) == WINDOW
    assert InsightsState.objects.get(bot=bot).last_error == ""


def test_backfill_gives_up_after_its_bound_and_keeps_the_failure_for_an_operator(sandbox, bot, caplog):
    sandbox.server.tamper("rawstats.all", refuse(500, "down for maintenance"))
    reason = (
        "Userbot answered rawstats.all for 2026-09-16 to 2026-10-16 with 500 server_error: "
        "down for maintenance"
    )

    with caplog.at_level(logging.WARNING, logger="insights.tasks"):
        result = tasks.backfill.apply(args=[bot.pk]).get()

    state = InsightsState.objects.get(bot=bot)
    assert len(sandbox.server.asked("rawstats.all")) == tasks.MAX_RETRIES + 1
    assert (result, state.last_error, state.failing) == (f"failed: {reason}", reason, True)
    assert not DayStats.objects.exists()
    assert [r.getMessage() for r in caplog.records] == [f"Insights of bot {bot.pk} were not read: {reason}"]


def test_backfill_does_not_try_a_refusal_again(sandbox, bot):
    sandbox.server.tamper("rawstats.all", refuse(403))

    result = tasks.backfill.apply(args=[bot.pk]).get()

    assert len(sandbox.server.asked("rawstats.all")) == 1
    assert result.startswith(
        "failed: Userbot answered rawstats.all for 2026-09-16 to 2026-10-16 with 403 forbidden"
    )


def test_collect_reads_yesterday_and_today_of_every_bot_and_queues_a_backfill_where_days_are_missing(
    sandbox, bot, other_bot, queued
):
    services.insights_backfill(bot=other_bot, days=WINDOW)
    sandbox.server.frames.clear()

    result = tasks.collect.apply().get()

    assert sandbox.server.ranges("rawstats.all") == [(TODAY - timedelta(days=1), TODAY)] * 2
    assert _days(DayStats, bot) == {TODAY - timedelta(days=1), TODAY}
    assert queued == [bot.pk]
    assert result == "read 2 of 2 bots; queued 1 backfills"
    assert InsightsState.objects.get(bot=bot).last_collected_at is not None


def test_collect_tries_again_only_the_bots_that_failed_transiently(sandbox, bot, other_bot, queued):
    sandbox.server.tamper("rawstats.all", refuse(500), times=1)  # the first bot by name: other_bot

    tasks.collect.apply().get()

    assert len(sandbox.server.asked("rawstats.all")) == 3
    assert _days(DayStats, other_bot) == _days(DayStats, bot) == {TODAY - timedelta(days=1), TODAY}
    assert queued == [bot.pk, other_bot.pk]
    assert not InsightsState.objects.exclude(last_error="").exists()


def test_collect_keeps_a_refusal_without_trying_again(sandbox, bot, other_bot, queued):
    sandbox.server.tamper("rawstats.all", refuse(401, "key revoked"), times=1)

    result = tasks.collect.apply().get()

    assert len(sandbox.server.asked("rawstats.all")) == 2
    assert InsightsState.objects.get(bot=other_bot).last_error == (
        "Userbot answered rawstats.all for 2026-11-23 to 2026-11-24 with 401 unauthenticated: key revoked"
    )
    assert (queued, result) == ([bot.pk], "read 1 of 2 bots; queued 1 backfills")


def test_collect_runs_on_the_beat_every_insights_collect_s():
    assert settings.CELERY_BEAT_SCHEDULE["insights.collect"] == {
        "task": "insights.collect",
        "schedule": settings.INSIGHTS_COLLECT_S,
    }
    assert (tasks.collect.name, tasks.backfill.name) == ("insights.collect", "insights.backfill")
