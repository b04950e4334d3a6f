"""An import's books, kept as it runs: its counters (committed with each chunk's rows), the
CSV of its rejected rows, and the progress it publishes to whoever follows it."""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.storage import default_storage

from chatusers.export import neutralised
from chatusers.import_models import ImportJob
from chatusers.imports.plan import ChunkResult
from chatusers.imports.selectors import import_progress

logger = logging.getLogger(__name__)
REJECTED_HEADER = ["row", "reason"]


class RejectedRows:
    """The CSV of rejected rows, appended to as the run goes; cells are neutralised, since
    an operator opens it in a spreadsheet."""

    def __init__(self, job: ImportJob, keep_through: int) -> None:
        self.name = job.rejected_file.name or f"imports/rejected/import-{job.pk}.csv"
        self.path = Path(default_storage.path(self.name))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept: list[list[str]] = []
        if keep_through and self.path.exists():
            # Resuming: keep only what committed chunks rejected.
            with self.path.open(newline="", encoding="utf-8") as existing:
                kept = [r for r in csv.reader(existing) if r and r[0].isdigit() and int(r[0]) <= keep_through]
        self.handle = self.path.open("w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow([*REJECTED_HEADER, *(neutralised(column) for column in job.header)])
        self.writer.writerows(kept)

    def write(self, rejected: Sequence[tuple[int, str, list[str]]]) -> None:
        for number, reason, cells in rejected:
            self.writer.writerow([number, reason, *(neutralised(cell[:1000]) for cell in cells)])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def progress_group(job_id: int) -> str:
    """The channel-layer group the import publishes its progress to."""
    return f"chatuser-import-{job_id}"


def publish_progress(job: ImportJob, rate: float, eta: float | None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "import.progress", **import_progress(job=job), "rate_per_s": rate, "eta_s": eta}
    try:
        async_to_sync(layer.group_send)(progress_group(job.pk), message)
    except Exception:  # progress is a courtesy: the counters on the job are the truth
        logger.warning("Could not publish the progress of import %s", job.pk, exc_info=True)


class Books:
    """A chunk's counters, rejected rows and progress, kept in file order; ``commit`` runs
    inside the chunk's transaction so that its counters commit with its rows."""

    def __init__(
        self,
        job: ImportJob,
        rejected_rows: RejectedRows,
        counted: list[int],
        progress: Callable[[ImportJob, float, float | None], None] | None,
    ) -> None:
        self.job, self.rejected_rows, self.counted, self.progress = job, rejected_rows, counted, progress
        self.started, self.done_here = time.monotonic(), 0

    def commit(self, rows: int, result: ChunkResult, rejected: list[tuple[int, str, list[str]]]) -> None:
        job = self.job
        rejected = sorted(rejected + result.rejected, key=lambda item: item[0])
        self.rejected_rows.write(rejected)
        job.rows_done += rows
        job.created += result.created
        job.updated += result.updated
        job.unchanged += result.unchanged
        job.rejected += len(rejected)
        if self.counted and job.rows_total is None:
            job.rows_total = self.counted[0]
        job.save(update_fields=["rows_done", "created", "updated", "unchanged", "rejected", "rows_total"])

    def published(self, rows: int) -> None:
        """Tell who follows the job, once the chunk has committed."""
        job = self.job
        self.done_here += rows
        rate = self.done_here / max(time.monotonic() - self.started, 1e-6)
        eta = (job.rows_total - job.rows_done) / rate if job.rows_total is not None and rate else None
        publish_progress(job, round(rate, 1), None if eta is None else round(eta, 1))
        if self.progress is not None:
            self.progress(job, rate, eta)
