"""What an operation's page shows of it: where it is, how fast it goes, how long is left."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from backoffice.operations.models import Operation
from backoffice.operations.run import STALE_S


def operation_progress(*, operation: Operation, now: datetime | None = None) -> dict[str, Any]:
    """The operation's counts, its rate since it started and the time left at that rate."""
    now = now or timezone.now()
    rate = eta = None
    if operation.status == Operation.Status.RUNNING and operation.started_at and operation.done:
        elapsed = max((now - operation.started_at).total_seconds(), 1e-3)
        rate = operation.done / elapsed
        if operation.total is not None:
            eta = max(operation.total - operation.done, 0) / rate
    silent = (
        operation.status == Operation.Status.RUNNING
        and operation.heartbeat_at is not None
        and (now - operation.heartbeat_at).total_seconds() > STALE_S
    )
    return {
        "status": operation.status,
        "status_label": operation.get_status_display(),
        "finished": operation.finished,
        "done": operation.done,
        "total": operation.total,
        "noun": operation.noun,
        "rate_per_s": None if rate is None else round(rate, 1),
        "eta_s": None if eta is None else round(eta, 1),
        "cancel_requested": operation.cancel_requested,
        "silent": silent,
        "result": operation.result,
        "error": operation.error,
    }


def operations_running(*, user: Any, limit: int = 5) -> list[Operation]:
    """The newest operations not finished yet that ``user`` may follow (a superuser all), for
    the index, which shows each with its progress."""
    running = Operation.objects.exclude(status__in=Operation.FINISHED).defer("query")
    if not user.is_superuser:
        running = running.filter(created_by=user)
    return list(running.order_by("-created_at", "-pk")[:limit])
