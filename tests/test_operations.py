"""Long operations: a bulk action on everything a list matches, an export and a re-pull run
in a worker, tell their progress (rate, time left), stop when cancelled between two chunks,
and do only what is left when run again after their worker died."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.utils import timezone

from backoffice.operations import services
from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress
from backoffice.operations.run import STALE_S, operation_run
from backoffice.operations.selectors import operation_progress
from backoffice.operations.tasks import QUEUED_LOST_S, sweep
from backoffice.sync.models import OutboxEntry
from chatusers.models import ChatUser, ChatUserTag
from tests.factories import BotFactory, TagFactory

pytestmark = pytest.mark.django_db

MANY = 2100  # three chunks of the services' 1,000


@pytest.fixture
def starter() -> Any:
    return get_user_model().objects.create_user("ops", "ops@example.com", "x", is_staff=True)


@pytest.fixture
def crowd() -> dict[str, Any]:
    bot = BotFactory()
    ChatUser.objects.bulk_create(
        [ChatUser(bot=bot, client_ref=f"c-{n}", name=f"User {n}", sync_state="synced") for n in range(MANY)]
    )
    return {"bot": bot, "tag": TagFactory(bot=bot, name="vip")}


def _add_tag_to_everyone(
    crowd: dict[str, Any], starter: Any, django_capture_on_commit_callbacks: Any
) -> Operation:
    with django_capture_on_commit_callbacks() as queued:
        operation = services.operation_start(
            kind="chatusers.add_tag",
            title="Add the tag “vip”",
            noun="chat users",
            actor=starter,
            queryset=ChatUser.objects.filter(bot=crowd["bot"]),
            params={"tag": crowd["tag"].pk},
        )
    assert len(queued) == 1  # the worker's task, once the start commits
    return operation


def test_an_operation_runs_to_its_end_and_tells_what_it_did(
    crowd: dict[str, Any], starter: Any, django_capture_on_commit_callbacks: Any
) -> None:
    operation = _add_tag_to_everyone(crowd, starter, django_capture_on_commit_callbacks)
    assert operation.status == "queued"

    operation_run(operation_id=operation.pk)

    operation.refresh_from_db()
    assert (operation.status, operation.done, operation.total) == ("done", MANY, MANY)
    assert operation.result == f"Tag “vip” added to {MANY:,} chat users."
    assert operation.started_at is not None and operation.finished_at is not None
    assert ChatUserTag.objects.count() == MANY
    assert OutboxEntry.objects.count() == MANY


def test_a_cancel_stops_it_between_two_chunks_and_keeps_what_was_done(
    crowd: dict[str, Any], starter: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    operation = _add_tag_to_everyone(crowd, starter, django_capture_on_commit_callbacks)
    advance = Progress.advance

    def operator_cancels_during_the_first_chunk(self: Progress, done: int) -> None:
        services.operation_cancel(operation=self.operation)
        advance(self, done)

    monkeypatch.setattr(Progress, "advance", operator_cancels_during_the_first_chunk)
    operation_run(operation_id=operation.pk)

    operation.refresh_from_db()
    assert (operation.status, operation.done, operation.total) == ("cancelled", 1000, MANY)
    assert operation.result == (
        f"Cancelled after 1,000 of {MANY:,} chat users. What was done before the cancel stays done."
    )
    # Exactly the first chunk, whole: its rows, its outbox entries, its history.
    assert ChatUserTag.objects.count() == OutboxEntry.objects.count() == 1000
    assert LogEntry.objects.filter(change_message="Added tag vip").count() == 1000


def test_a_queued_operation_cancelled_never_starts(
    crowd: dict[str, Any], starter: Any, django_capture_on_commit_callbacks: Any
) -> None:
    operation = _add_tag_to_everyone(crowd, starter, django_capture_on_commit_callbacks)

    assert services.operation_cancel(operation=operation) is True
    assert operation_run(operation_id=operation.pk) == "finished, or running elsewhere"

    operation.refresh_from_db()
    assert (operation.status, operation.result) == ("cancelled", "Cancelled before it started.")
    assert not ChatUserTag.objects.exists()
    assert services.operation_cancel(operation=operation) is False


def test_run_again_after_its_worker_died_it_does_only_what_is_left(
    crowd: dict[str, Any], starter: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    operation = _add_tag_to_everyone(crowd, starter, django_capture_on_commit_callbacks)
    advance = Progress.advance

    def worker_killed_after_the_first_chunk(self: Progress, done: int) -> None:
        advance(self, done)
        raise KeyboardInterrupt  # not an error of the run: the process is going away

    monkeypatch.setattr(Progress, "advance", worker_killed_after_the_first_chunk)
    with pytest.raises(KeyboardInterrupt):
        operation_run(operation_id=operation.pk)
    operation.refresh_from_db()
    assert (operation.status, operation.done) == ("running", 1000)

    monkeypatch.setattr(Progress, "advance", advance)
    # Delivered again while its heartbeat is fresh, the task leaves it: it may still run.
    assert operation_run(operation_id=operation.pk) == "finished, or running elsewhere"
    # Once silent for STALE_S, the sweep queues it again, and a worker takes it over.
    Operation.objects.filter(pk=operation.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=STALE_S + 1)
    )
    queued: list[int] = []
    monkeypatch.setattr("backoffice.operations.tasks.run.delay", queued.append)
    assert sweep() == 1
    operation_run(operation_id=queued[0])

    operation.refresh_from_db()
    # The counts go on from the first run's: all of it, done.
    assert (operation.status, operation.done, operation.total) == ("done", MANY, MANY)
    assert operation.result == f"Tag “vip” added to {MANY - 1000:,} chat users."
    assert ChatUserTag.objects.count() == OutboxEntry.objects.count() == MANY
    assert LogEntry.objects.filter(change_message="Added tag vip").count() == MANY


def test_a_failure_is_recorded_with_its_reason(
    crowd: dict[str, Any], starter: Any, django_capture_on_commit_callbacks: Any
) -> None:
    operation = _add_tag_to_everyone(crowd, starter, django_capture_on_commit_callbacks)
    crowd["tag"].delete()

    operation_run(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == "failed"
    assert operation.error == "LookupError: the tag was deleted after the operation started"


def test_progress_tells_the_rate_since_the_start_and_the_time_left_at_it(starter: Any) -> None:
    now = timezone.now()
    operation = Operation.objects.create(
        kind="chatusers.add_tag",
        title="t",
        noun="chat users",
        created_by=starter,
        status="running",
        started_at=now - timedelta(seconds=10),
        heartbeat_at=now,
        done=500,
        total=2000,
    )

    progress = operation_progress(operation=operation, now=now)

    assert (progress["rate_per_s"], progress["eta_s"], progress["silent"]) == (50.0, 30.0, False)
    late = operation_progress(operation=operation, now=now + timedelta(minutes=3))
    assert late["silent"] is True


def test_an_unknown_kind_is_refused_when_started(starter: Any) -> None:
    with pytest.raises(LookupError, match="no operation runner is registered as 'nope'"):
        services.operation_start(kind="nope", title="t", actor=starter)
    assert not Operation.objects.exists()


def test_the_sweep_queues_again_only_operations_lost_or_silent(starter: Any, monkeypatch: Any) -> None:
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_S + 1)

    def made(status: str, *, created: timedelta = timedelta(0), heartbeat: Any = None) -> Operation:
        operation = Operation.objects.create(
            kind="chatusers.export", title=status, created_by=starter, status=status, heartbeat_at=heartbeat
        )
        Operation.objects.filter(pk=operation.pk).update(created_at=now - created)
        return operation

    lost = made("queued", created=timedelta(seconds=QUEUED_LOST_S + 1))
    made("queued", created=timedelta(seconds=5))  # waiting its turn in the queue
    silent = made("running", heartbeat=stale)
    made("running", heartbeat=now)
    made("done", heartbeat=stale)
    queued: list[int] = []
    monkeypatch.setattr("backoffice.operations.tasks.run.delay", queued.append)

    assert sweep() == 2
    assert sorted(queued) == sorted([lost.pk, silent.pk])
