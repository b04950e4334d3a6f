"""What the admin reads of an import while it runs (the same keys as the progress message)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.utils import timezone

from backoffice.sync.models import OutboxEntry
from chatusers.import_models import ImportChange, ImportJob
from chatusers.models import ChatUserSync


def import_progress(*, job: ImportJob) -> dict[str, Any]:
    """The job's status and counters, with its average rate and the time left at that rate."""
    rate, eta = 0.0, None
    if job.started_at is not None and job.rows_done:
        end = job.finished_at or timezone.now()
        elapsed = max((end - job.started_at).total_seconds(), 1e-3)
        rate = round(job.rows_done / elapsed, 1)
        if job.rows_total is not None and job.finished_at is None:
            eta = round((job.rows_total - job.rows_done) / rate, 1) if rate else None
    if job.finished_at is not None:
        eta = 0.0
    return {
        "status": job.status,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "rejected": job.rejected,
        "rate_per_s": rate,
        "eta_s": eta,
    }


def import_push_progress(*, job: ImportJob) -> dict[str, Any]:
    """Where the chat users the import created or changed are on their way to Userbot, in
    three queries: by sync state (``synced``, ``pending``, ``error``, ``conflict``), their
    outbox entries ``in_flight`` and ``dead``, and ``done`` once none waits any more."""
    touched = ImportChange.objects.filter(job=job).values("chatuser_id")
    states = dict(
        ChatUserSync.objects.filter(pk__in=touched)
        .order_by()
        .values("sync_state")
        .annotate(n=Count("pk"))
        .values_list("sync_state", "n")
    )
    entries = dict(
        OutboxEntry.objects.filter(object_type="chatusers.chatuser", object_id__in=touched, deleted=False)
        .exclude(state=OutboxEntry.State.PENDING)
        .order_by()
        .values("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    progress = {
        "total": sum(states.values()),
        "synced": states.get("synced", 0),
        "pending": states.get("pending", 0),
        "error": states.get("error", 0),
        "conflict": states.get("conflict", 0),
        "in_flight": entries.get(OutboxEntry.State.IN_FLIGHT, 0),
        "dead": entries.get(OutboxEntry.State.DEAD, 0),
    }
    progress["done"] = progress["pending"] == 0
    return progress
