"""Pulls of several bots at once: never two of one bot, and a slow bot never holds up another.

The slow bot's Userbot is a hostile sandbox of its own whose first ``chatusers.get`` answer is
held back until the test lets it go, so that "while A's pull is still running" is a fact the
test controls rather than a race of timings. The last test runs real Celery worker processes
(PostgreSQL and Redis), with the sweep queueing the pulls as beat would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from backoffice.sync import tasks
from backoffice.sync.models import BotSync
from backoffice.userbot.models import Bot
from sandbox.runner import SandboxHandle, start_sandbox
from tests.conftest import APIKEY
from tests.hostile import Frame, RecordingServer
from tests.sync_harness import Workers, queued_tasks, real_parts_missing, reset_broker
from tests.sync_helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

HOLD_S = 60  # the longest a held answer waits for the test: a failing test, not a slow one


class Held:
    """A hook that holds back one answer until ``release``: ``reached`` once it holds it."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()

    def __call__(self, frame: Frame) -> Frame:
        self.reached.set()
        self.released.wait(HOLD_S)
        return frame

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def slow_userbot() -> Iterator[tuple[SandboxHandle, Held]]:
    """A Userbot of its own for the slow bot (``slow-bot``), recording every frame, whose first
    chat user page is held back: while it is held, that server answers no one."""
    held = Held()
    with start_sandbox(apikeys=(APIKEY,), sitekeys=("slow-bot",), server_class=RecordingServer) as handle:
        handle.server.tamper("chatusers.get", held, times=1)
        try:
            yield handle, held
        finally:
            held.release()  # a test that failed midway leaves no pull hanging on it


def bot_on(url: str, sitekey: str, **sync: Any) -> Bot:
    bot = Bot(name=sitekey.capitalize(), sitekey=sitekey, server_url=url)
    bot.set_apikey(APIKEY)
    bot.save()
    BotSync.objects.create(bot=bot, **sync)
    cache.delete_many([tasks._pull_queued_key(bot.pk, when_due=d) for d in (True, False)])
    return bot


def in_thread(run: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """``run`` in a thread of its own (with its own database connection), its result kept."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = run()
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_two_pulls_of_one_bot_at_once_one_reconciles_and_the_other_returns_at_once(slow_userbot: Any) -> None:
    userbot, held = slow_userbot
    bot = bot_on(userbot.url, "slow-bot")

    first, outcome = in_thread(lambda: tasks.pull(bot.pk))
    assert held.reached.wait(HOLD_S), "the first pull never asked for the chat users"
    second = tasks.pull(bot.pk)  # while the first is held inside its reconciliation
    scheduled = tasks.pull(bot.pk, when_due=True)  # the sweep's: the running pull is this turn's
    during = BotSync.objects.get(bot=bot)
    held.release()
    first.join(HOLD_S)

    assert (second, scheduled) == ("already running", "not due")
    assert during.pull_lease_until is not None and during.pull_finished_at is None
    assert outcome["result"].startswith("{"), outcome
    state = BotSync.objects.get(bot=bot)
    assert (state.pull_error, state.pull_lease_until) == ("", None)
    assert state.pull_started_at == during.pull_started_at  # the first run's, not a second's
    # The second and the third never reached Userbot: one login in all.
    assert [f for f in userbot.server.frames if f.startswith("apiLogin")] == [f"apiLogin {APIKEY}"]


# --- real workers ------------------------------------------------------------------------------


@pytest.fixture
def workers(tmp_path: Path, transactional_db: Any) -> Iterator[Workers]:
    """Worker processes on the test database and Redis, stopped before the database is emptied;
    an empty broker before and after."""
    reset_broker()
    made = Workers(tmp_path, USERBOT_REQUEST_TIMEOUT_S=HOLD_S + 30)
    yield made
    made.stop_all()
    reset_broker()


@pytest.mark.skipif(real_parts_missing() is not None, reason=real_parts_missing() or "")
def test_a_slow_bot_does_not_delay_another_bot_s_reconciliation(
    slow_userbot: Any, workers: Workers, settings: Any
) -> None:
    settings.SYNC_WAKE_SHARED_CACHE = True  # as in production: the workers share Redis with this process
    slow, held = slow_userbot
    with start_sandbox(apikeys=(APIKEY,), sitekeys=("quick-bot",)) as quick_userbot:
        a = bot_on(slow.url, "slow-bot")  # never pulled: first in the queue
        b = bot_on(quick_userbot.url, "quick-bot")

        # Beat's sweep, three times before any worker takes a task: each bot is queued once.
        for _ in range(3):
            tasks.sweep()
        assert queued_tasks() == 2

        # Two workers of one process each (concurrency 2 in all), as the Procfile runs them.
        workers.start()
        workers.start()
        assert held.reached.wait(HOLD_S), f"A's pull never asked for its chat users\n{workers.logs()}"

        def b_reconciled() -> BotSync | None:
            state = BotSync.objects.get(bot=b)
            return state if state.pull_finished_at is not None and state.pull_lease_until is None else None

        b_done = wait_until(b_reconciled, timeout=HOLD_S, what="B's reconciliation while A's is held")
        a_meanwhile = BotSync.objects.get(bot=a)
        tasks.sweep()  # A is running and B was just pulled: nothing is due
        queued_after = queued_tasks()
        held.release()

        def a_reconciled() -> BotSync | None:
            state = BotSync.objects.get(bot=a)
            return state if state.pull_finished_at is not None and state.pull_lease_until is None else None

        a_done = wait_until(a_reconciled, timeout=HOLD_S, what="A's reconciliation once let go")

    assert a_meanwhile.pull_lease_until is not None and a_meanwhile.pull_finished_at is None
    assert queued_after == 0
    assert (a_done.pull_error, b_done.pull_error) == ("", "")
    assert b_done.pull_finished_at < a_done.pull_finished_at
    # Each worker ran one pull, and each pull reconciled: no duplicate ran or was turned away.
    runs = sorted(result for worker in workers.started for result in worker.results("sync.pull"))
    assert len(runs) == 2 and all(run.startswith("{") for run in runs), runs
    assert sorted(len(worker.results("sync.pull")) for worker in workers.started) == [1, 1], workers.logs()
