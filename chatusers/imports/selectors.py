"""What the admin reads of an import while it runs (the same keys as the progress message)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from chatusers.import_models import ImportJob


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
