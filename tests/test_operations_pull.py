"""An operator's re-pull as a long operation, against the sandbox: it tells how many of
Userbot's chat users it has read, and a cancel stops it between two batches with its
checkpoint kept, so the next pull goes on from there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress
from backoffice.operations.run import operation_run
from backoffice.sync.models import BotSync
from backoffice.sync.operations import pull_start
from backoffice.sync.pull import pull_bot
from chatusers.models import ChatUser
from chatusers.sync import pull as pull_module
from tests.conftest import RawWs
from tests.operations import started
from tests.sync_harness import Workers, real_parts_missing, reset_broker

pytestmark = pytest.mark.django_db(transaction=True)

USERS = 12


@pytest.fixture
def seeded(raw_ws: RawWs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Userbot holds 12 chat users, read 5 at a time, each page a batch of its own."""
    raw_ws.ok("chatusers.create", [{"name": f"User {n}", "surname": "Rossi"} for n in range(USERS)])
    monkeypatch.setattr(pull_module, "PAGE", 5)
    monkeypatch.setattr(pull_module, "APPLY_BATCH", 5)


@pytest.fixture
def starter() -> Any:
    return get_user_model().objects.create_user("ops", "ops@example.com", "x", is_staff=True)


def test_a_re_pull_tells_what_it_read_and_what_it_did(bot: Any, seeded: None, starter: Any) -> None:
    operation = pull_start(bot=bot, actor=starter)

    operation_run(operation_id=operation.pk)

    operation.refresh_from_db()
    assert (operation.status, operation.done, operation.total) == ("done", USERS, USERS)
    assert operation.noun == "chat users read"
    assert operation.result == f"Reconciled with Userbot. chatusers: created {USERS}."
    assert ChatUser.objects.filter(bot=bot).count() == USERS


def test_a_cancelled_re_pull_stops_between_batches_and_the_next_pull_goes_on(
    bot: Any, seeded: None, starter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    operation = pull_start(bot=bot, actor=starter)
    at = Progress.at

    def operator_cancels_after_the_first_batch(self: Progress, done: int, total: int | None) -> None:
        Operation.objects.filter(pk=self.operation.pk).update(cancel_requested=True)
        at(self, done, total)

    monkeypatch.setattr(Progress, "at", operator_cancels_after_the_first_batch)
    operation_run(operation_id=operation.pk)

    operation.refresh_from_db()
    state = BotSync.objects.get(bot=bot)
    assert (operation.status, operation.done, operation.total) == ("cancelled", 5, USERS)
    assert state.pull_error == "stopped: an operator cancelled the pull"
    assert state.pull_lease_until is None
    assert state.pull_finished_at is None  # not a complete reconciliation
    applied = ChatUser.objects.filter(bot=bot).count()
    assert 5 <= applied < USERS
    assert state.pull_checkpoint["chatusers_offset"] >= 5

    report = pull_bot(bot)

    assert (
        report is not None and report["chatusers"]["resumed_at"] == state.pull_checkpoint["chatusers_offset"]
    )
    assert ChatUser.objects.filter(bot=bot).count() == USERS


@pytest.fixture
def workers(tmp_path: Path, transactional_db: Any) -> Iterator[Workers]:
    reset_broker()
    made = Workers(tmp_path)
    yield made
    made.stop_all()
    reset_broker()


@pytest.mark.skipif(real_parts_missing() is not None, reason=real_parts_missing() or "")
def test_a_worker_process_runs_a_re_pull_started_from_the_admin(
    bot: Any, seeded: None, workers: Workers, admin_client: Any
) -> None:
    workers.start()
    state = BotSync.objects.create(bot=bot)

    response = admin_client.post(f"/admin/sync/botsync/{state.pk}/pull/")

    operation = started(response)
    deadline = time.monotonic() + 30
    while not operation.finished and time.monotonic() < deadline:
        time.sleep(0.1)
        operation.refresh_from_db()
    assert (operation.status, operation.done, operation.total) == ("done", USERS, USERS), workers.logs()
    assert ChatUser.objects.filter(bot=bot).count() == USERS
