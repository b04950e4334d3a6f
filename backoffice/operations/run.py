"""Running one long operation, in a worker."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice.operations.models import Operation
from backoffice.operations.progress import Cancelled, Progress
from backoffice.operations.runners import runner_for

logger = logging.getLogger(__name__)
Status = Operation.Status
# A running operation that has told nothing for this long has lost its worker: another
# may take it over. Runners tell their progress after each chunk, a second or so apart.
STALE_S = 120


def takeable(now: datetime) -> Q:
    """Operations a worker may start now: queued, or running without word for STALE_S."""
    silent = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=STALE_S))
    return Q(status=Status.QUEUED) | (Q(status=Status.RUNNING) & silent)


def operation_run(*, operation_id: int) -> str:
    """Run the operation, or run it again if its last worker died in the middle (its runner
    then does what is left); one finished, or running in a worker that still tells its
    progress, is left as it is: a task delivered twice runs it once."""
    now = timezone.now()
    taken = (
        Operation.objects.filter(pk=operation_id)
        .filter(takeable(now))
        .update(status=Status.RUNNING, started_at=Coalesce("started_at", now), heartbeat_at=now)
    )
    operation = Operation.objects.filter(pk=operation_id).first()
    if not taken or operation is None:
        return "finished, or running elsewhere"
    progress = Progress(operation)
    try:
        progress.check()
        result = runner_for(operation.kind)(operation, progress)
    except Cancelled:
        return _finish(operation, Status.CANCELLED, result=_stopped(operation))
    except Exception as exc:
        logger.exception("Operation %s (%s) failed", operation.pk, operation.kind)
        return _finish(operation, Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _finish(operation, Status.DONE, result=result)


def _stopped(operation: Operation) -> str:
    operation.refresh_from_db(fields=["done", "total"])
    of = "" if operation.total is None else f" of {operation.total:,}"
    return (
        f"Cancelled after {operation.done:,}{of} {operation.noun}. What was done before the cancel "
        "stays done."
    )


def _finish(operation: Operation, status: str, *, result: str = "", error: str = "") -> str:
    Operation.objects.filter(pk=operation.pk).update(
        status=status, finished_at=timezone.now(), result=result, error=error
    )
    return f"{status}: {result or error}"
