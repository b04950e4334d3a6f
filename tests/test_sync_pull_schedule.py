"""When a bot is pulled: at its own pace within the operator's bounds, queued once by the sweep,
most overdue first, and a scheduled pull that finds its bot pulled meanwhile does no work.

The tasks are queued into a list here (``delay`` replaced), never sent to a broker; a pull
that really runs goes to the sandbox on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from backoffice.sync import services, tasks
from backoffice.sync.models import BotSync
from backoffice.sync.pull import due_pulls, pull_bot
from sandbox.runner import SandboxHandle
from tests.conftest import APIKEY, SITEKEY
from tests.factories import BotFactory
from tests.hostile import refuse, start_hostile

pytestmark = pytest.mark.django_db(transaction=True)

NOWHERE = "ws://127.0.0.1:9/"  # the discard port: a pull that tried to connect would fail


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """The pulls queued, as (bot id, options), instead of sent to a broker; the queued marks
    in the cache as all processes would share them."""
    settings.SYNC_WAKE_SHARED_CACHE = True
    settings.SYNC_PULL_DUTY = 4.0
    sent: list[tuple[int, dict[str, Any]]] = []
    monkeypatch.setattr(tasks.pull, "delay", lambda bot_id, **options: sent.append((bot_id, options)))
    yield sent


def sync_of(
    *,
    started_ago: float | None,
    floor: int = 60,
    most: int = 300,
    took: float | None = None,
    sitekey: str | None = None,
    server_url: str = NOWHERE,
) -> BotSync:
    """A bot and its sync row: last pull started ``started_ago`` seconds ago (None: never),
    the bounds, and how long its last complete reconciliation took. No queued mark of an
    earlier run of the tests (the same bot id) is left in the shared cache."""
    bot_row = BotFactory(server_url=server_url, **({"sitekey": sitekey} if sitekey else {}))
    started = None if started_ago is None else timezone.now() - timedelta(seconds=started_ago)
    state = BotSync.objects.create(
        bot=bot_row,
        pull_started_at=started,
        pull_interval_s=floor,
        pull_interval_max_s=most,
        pull_duration_s=took,
    )
    cache.delete_many([tasks._pull_queued_key(bot_row.pk, when_due=d) for d in (True, False)])
    return state


# --- the interval rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("took", "duty", "interval"),
    [
        (None, 4.0, 60),  # never reconciled: the floor
        (3.0, 4.0, 60),  # 12 s of pace: never more often than the floor
        (15.0, 4.0, 60),  # exactly the floor
        (30.0, 4.0, 120),  # a quarter of its time: every 2 minutes
        (74.0, 4.0, 296),
        (100.0, 4.0, 300),  # 400 s of pace: never less often than the max
        (30.0, 2.0, 60),  # the duty is the setting's
        (100.0, 2.0, 200),
    ],
)
def test_the_pull_interval_is_the_duty_times_the_last_reconciliation_within_the_bounds(
    settings: Any, took: float | None, duty: float, interval: int
) -> None:
    settings.SYNC_PULL_DUTY = duty
    state = BotSync(pull_interval_s=60, pull_interval_max_s=300, pull_duration_s=took)

    assert state.pull_interval == timedelta(seconds=interval)


def test_a_floor_above_the_max_written_past_validation_wins(settings: Any) -> None:
    settings.SYNC_PULL_DUTY = 4.0

    state = BotSync(pull_interval_s=600, pull_interval_max_s=300, pull_duration_s=1000.0)

    assert state.pull_interval == timedelta(seconds=600)


def test_the_next_pull_is_due_one_interval_after_the_last_started(settings: Any) -> None:
    settings.SYNC_PULL_DUTY = 4.0
    started = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    state = BotSync(
        pull_interval_s=60, pull_interval_max_s=300, pull_duration_s=30.0, pull_started_at=started
    )

    assert state.next_pull_due == started + timedelta(minutes=2)
    assert not state.pull_due(started + timedelta(seconds=119))
    assert state.pull_due(started + timedelta(seconds=120))
    assert BotSync(pull_started_at=None).next_pull_due is None
    assert BotSync(pull_started_at=None).pull_due(started)


def test_the_max_must_be_at_least_the_floor(operator: Any) -> None:
    state = sync_of(started_ago=None)

    with pytest.raises(ValidationError) as refused:
        services.bot_sync_update(bot_sync=state, actor=operator, pull_interval_s=600)

    assert refused.value.message_dict == {
        "pull_interval_max_s": ['At least the 600 seconds of "pull every".']
    }
    state.refresh_from_db()
    assert (state.pull_interval_s, state.pull_interval_max_s) == (60, 300)
    assert services.bot_sync_update(
        bot_sync=state, actor=operator, pull_interval_s=600, pull_interval_max_s=900
    ) == ["pull_interval_s", "pull_interval_max_s"]


def test_the_migration_gives_a_bot_that_pulls_less_often_than_the_new_max_its_own_interval() -> None:
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    before = [("sync", "0004_outbox_claim_indexes")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    bot = old.get_model("userbot", "Bot").objects.create(
        name="Bot", sitekey="slow", server_url=NOWHERE, apikey_ciphertext=""
    )
    quick = old.get_model("userbot", "Bot").objects.create(
        name="Bot", sitekey="quick", server_url=NOWHERE, apikey_ciphertext=""
    )
    old.get_model("sync", "BotSync").objects.create(bot_id=bot.pk, pull_interval_s=900)
    old.get_model("sync", "BotSync").objects.create(bot_id=quick.pk, pull_interval_s=30)

    MigrationExecutor(connection).migrate(latest)

    bounds = dict(BotSync.objects.values_list("bot__sitekey", "pull_interval_s"))
    most = dict(BotSync.objects.values_list("bot__sitekey", "pull_interval_max_s"))
    assert (bounds, most) == ({"slow": 900, "quick": 30}, {"slow": 900, "quick": 300})
    assert set(BotSync.objects.values_list("pull_duration_s", flat=True)) == {None}


# --- what a pull records -----------------------------------------------------------------------


def test_a_complete_pull_records_when_it_finished_and_how_long_it_took(bot: Any) -> None:
    pull_bot(bot)

    state = BotSync.objects.get(bot=bot)
    assert state.pull_error == ""
    assert state.pull_lease_until is None
    assert state.pull_duration_s == (state.pull_finished_at - state.pull_started_at).total_seconds()
    assert state.pull_duration_s > 0


def test_a_failed_pull_keeps_the_last_complete_reconciliation_s_figures() -> None:
    with start_hostile(apikeys=(APIKEY,), sitekeys=(SITEKEY,)) as userbot:
        bot = BotFactory(sitekey=SITEKEY, server_url=userbot.url)
        pull_bot(bot)
        complete = BotSync.objects.get(bot=bot)
        userbot.server.tamper("chatusers.get-bot-segments", refuse(500))

        pull_bot(bot)

    state = BotSync.objects.get(bot=bot)
    assert state.pull_error.startswith("chatusers.segment: ")
    assert state.pull_started_at > complete.pull_started_at
    assert (state.pull_finished_at, state.pull_duration_s) == (
        complete.pull_finished_at,
        complete.pull_duration_s,
    )


# --- the sweep ---------------------------------------------------------------------------------


def test_the_sweep_queues_a_due_bot_once_however_often_it_runs_before_the_pull_starts(queued: Any) -> None:
    due = sync_of(started_ago=61)
    sync_of(started_ago=59)  # within its floor
    sync_of(started_ago=100, took=30.0)  # paced to 2 minutes
    running = sync_of(started_ago=600)
    BotSync.objects.filter(pk=running.pk).update(pull_lease_until=timezone.now() + timedelta(seconds=30))

    results = [tasks.sweep() for _ in range(5)]

    assert queued == [(due.bot_id, {"when_due": True})]
    assert (
        results
        == ["released 0, queued 0 pushes and 1 pulls"] + ["released 0, queued 0 pushes and 0 pulls"] * 4
    )


def test_the_sweep_queues_a_bot_again_once_its_queued_pull_has_started(queued: Any, bot: Any) -> None:
    state = BotSync.objects.create(bot=bot)  # never pulled: due at once
    cache.delete(tasks._pull_queued_key(bot.pk, when_due=True))
    tasks.sweep()
    tasks.sweep()
    assert queued == [(bot.pk, {"when_due": True})]

    result = tasks.pull(bot.pk, when_due=True)  # the queued run starts, and pulls
    tasks.sweep()

    assert result.startswith("{"), result
    assert queued == [(bot.pk, {"when_due": True})]  # pulled just now: not due
    BotSync.objects.filter(pk=state.pk).update(pull_started_at=timezone.now() - timedelta(seconds=61))
    tasks.sweep()
    assert queued == [(bot.pk, {"when_due": True})] * 2


class ClockedCache:
    """Just ``add`` and ``delete`` of a cache, with a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.entries: dict[str, tuple[Any, float]] = {}

    def add(self, key: str, value: Any, timeout: float) -> bool:
        if key in self.entries and self.entries[key][1] > self.now:
            return False
        self.entries[key] = (value, self.now + timeout)
        return True

    def delete(self, key: str) -> None:
        self.entries.pop(key, None)


def test_a_queued_mark_whose_pull_never_starts_expires_after_the_bot_s_max_interval(
    queued: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clocked = ClockedCache()
    monkeypatch.setattr(tasks, "cache", clocked)
    due = sync_of(started_ago=None, most=120)

    tasks.sweep()  # its message is lost: the pull never starts
    clocked.now = 119.9
    tasks.sweep()
    clocked.now = 120.0
    tasks.sweep()

    assert queued == [(due.bot_id, {"when_due": True})] * 2


def test_the_sweep_queues_the_most_overdue_bot_first(queued: Any) -> None:
    # Made in an order that is neither the queue's nor the overdue one.
    a_little = sync_of(started_ago=70)  # due 10 s ago
    paced = sync_of(started_ago=250, took=60.0)  # every 4 minutes: due 10 s ago, though started first
    late = sync_of(started_ago=200)  # due 140 s ago
    never = sync_of(started_ago=None)
    later = sync_of(started_ago=100, floor=30, most=30)  # due 70 s ago
    BotSync.objects.filter(pk=paced.pk).update(
        pull_started_at=a_little.pull_started_at - timedelta(seconds=180.5)
    )

    tasks.sweep()

    order = [bot_id for bot_id, _ in queued]
    assert order == [never.bot_id, late.bot_id, later.bot_id, paced.bot_id, a_little.bot_id]
    assert [s.bot_id for s in due_pulls(timezone.now())] == order


def test_without_a_shared_cache_the_sweep_queues_a_due_bot_at_every_run(queued: Any, settings: Any) -> None:
    settings.SYNC_WAKE_SHARED_CACHE = False  # the embedded default: a cache per process
    due = sync_of(started_ago=61)

    tasks.sweep()
    tasks.sweep()

    assert queued == [(due.bot_id, {"when_due": True})] * 2


# --- the pull task -----------------------------------------------------------------------------


def test_a_scheduled_pull_of_a_bot_that_is_not_due_returns_at_once(queued: Any) -> None:
    state = sync_of(started_ago=30)

    result = tasks.pull(state.bot_id, when_due=True)

    assert result == "not due"
    after = BotSync.objects.get(pk=state.pk)
    assert (after.pull_started_at, after.pull_lease_until, after.pull_error) == (
        state.pull_started_at,
        None,
        "",
    )


def test_a_scheduled_pull_leaves_when_another_started_after_it_found_the_bot_due() -> None:
    found_due = sync_of(started_ago=61)
    other_start = timezone.now()
    BotSync.objects.filter(pk=found_due.pk).update(pull_started_at=other_start)

    report = pull_bot(found_due.bot, due=found_due)  # would fail to connect, had it gone on

    assert report is None
    after = BotSync.objects.get(pk=found_due.pk)
    assert (after.pull_started_at, after.pull_lease_until, after.pull_error) == (other_start, None, "")


def test_a_pull_asked_for_now_pulls_a_bot_that_is_not_due(bot: Any) -> None:
    started = timezone.now() - timedelta(seconds=5)
    BotSync.objects.create(bot=bot, pull_started_at=started)

    result = tasks.pull(bot.pk)

    state = BotSync.objects.get(bot=bot)
    assert result.startswith("{"), result
    assert state.pull_started_at > started
    assert state.pull_finished_at is not None and state.pull_error == ""


def test_asks_for_a_pull_now_queue_one_run_until_it_starts(queued: Any, sandbox: SandboxHandle) -> None:
    state = sync_of(started_ago=5, sitekey=SITEKEY, server_url=sandbox.url)

    for _ in range(3):
        tasks.pull_now(state.bot_id)
    assert queued == [(state.bot_id, {})]

    result = tasks.pull(state.bot_id)  # starts: the next ask queues anew
    tasks.pull_now(state.bot_id)

    assert result.startswith("{"), result
    assert queued == [(state.bot_id, {})] * 2


def test_the_sweep_s_marks_and_the_asks_for_now_do_not_hold_each_other_back(queued: Any) -> None:
    due = sync_of(started_ago=None)

    tasks.sweep()
    tasks.pull_now(due.bot_id)

    assert queued == [(due.bot_id, {"when_due": True}), (due.bot_id, {})]
