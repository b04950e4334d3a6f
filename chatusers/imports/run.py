"""Running (or resuming) an import: validate, upsert a chunk per transaction, record
progress, stop between chunks when cancelled.

A run streams the file and commits a chunk at a time: the chunk's writes and the job's
counters commit together, so after a worker crash the job resumes after its last
committed chunk (``rows_done``) and nothing is counted or written twice.

Audit: one ``LogEntry`` per job summarising the run, not one per chat user: a million-row
import would otherwise write a million audit rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from backoffice.audit import record
from chatusers.import_models import ImportJob
from chatusers.imports.chunks import ValidatedChunks, count_rows
from chatusers.imports.parallel import ChunkWriters
from chatusers.imports.plan import ChunkResult, Options
from chatusers.imports.progress import Books, RejectedRows, publish_progress
from chatusers.imports.upsert import Upserter, prepare_chunk
from chatusers.models import ChatUser

logger = logging.getLogger(__name__)
# Connections that write chunks side by side on PostgreSQL (see ``ChunkWriters``); 1 writes
# each chunk on the connection that decides it.
WRITERS = 2
# The first key of the advisory lock a running import holds (the second is the job's id).
RUN_LOCK_NAMESPACE = 5_0001


def import_job_run(
    *, job_id: int, progress: Callable[[ImportJob, float, float | None], None] | None = None
) -> None:
    """Run (or resume) the job: validate, upsert a chunk per transaction, record progress,
    stop between chunks when cancelled. A job already finished, or running in another
    worker, is left as it is."""
    with _run_lock(job_id) as held:
        if held:
            _run(job_id, progress)


@contextmanager
def _run_lock(job_id: int) -> Iterator[bool]:
    """Whether this process may run the job: on PostgreSQL, a session advisory lock that a
    crashed worker's session releases, so a redelivered task whose first worker is still
    alive (a broker's visibility timeout on a long import) does not run it twice."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_NAMESPACE, job_id])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_NAMESPACE, job_id])


def _run(job_id: int, progress: Callable[[ImportJob, float, float | None], None] | None) -> None:
    claimed = ImportJob.objects.filter(
        pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    ).update(status=ImportJob.Status.RUNNING)
    if not claimed:
        return
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if job.cancel_requested:
        _finish(job, ImportJob.Status.CANCELLED)
        return
    if job.started_at is None:
        job.started_at = timezone.now()
        job.save(update_fields=["started_at"])
    upserter = None
    rejected_rows = None
    try:
        upserter = Upserter(
            Options(
                bot_id=job.bot_id,
                job_id=job.pk,
                mode=job.mode,
                match_key=job.match_key,
                overwrite=job.overwrite == ImportJob.Overwrite.OVERWRITE,
                extra_tags=tuple(job.extra_tags),
                dry_run=job.dry_run,
                max_new_tags=settings.CHATUSER_IMPORT_MAX_NEW_TAGS,
                # A resumed run finds the chat users its first part created: not fresh.
                fresh=job.rows_done == 0 and not ChatUser.objects.filter(bot_id=job.bot_id).exists(),
            )
        )
        rejected_rows = RejectedRows(job, job.rows_done)
        job.rejected_file.name = rejected_rows.name
        job.save(update_fields=["rejected_file"])
        cancelled = _run_chunks(job, upserter, rejected_rows, progress)
    except Exception as error:
        logger.exception("Import %s failed", job.pk)
        job.error = f"The import stopped: {error}"[:2000]
        _finish(job, ImportJob.Status.FAILED)
        return
    finally:
        if rejected_rows is not None:
            rejected_rows.close()
        if upserter is not None:
            with suppress(Exception):
                upserter.seen.drop()
    _finish(job, ImportJob.Status.CANCELLED if cancelled else ImportJob.Status.DONE)


def _run_chunks(
    job: ImportJob,
    upserter: Upserter,
    rejected_rows: RejectedRows,
    progress: Callable[[ImportJob, float, float | None], None] | None,
) -> bool:
    """Apply the file chunk by chunk; True when stopped by a cancel."""
    resume_after = job.rows_done
    # Counting the rows is a pass over the file of its own: it runs beside the import, and
    # the total (hence the time left) is shown from the first chunk after it is known.
    counted: list[int] = []
    counter = None
    if job.rows_total is None:
        counter = threading.Thread(target=lambda: counted.append(count_rows(job)), daemon=True)
        counter.start()
    books = Books(job, rejected_rows, counted, progress)
    writers = WRITERS if _may_write_in_parallel(job) else 0
    with ValidatedChunks(job) as chunks, ChunkWriters(upserter, books, writers) as pipeline:
        for chunk, parsed, rejected in chunks:
            if chunk[-1].number <= resume_after:
                upserter.register(parsed)
                continue
            if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                pipeline.settle()
                return True
            if not writers:
                with transaction.atomic():
                    prepare_chunk()
                    result = upserter.apply(parsed) if parsed else ChunkResult()
                    books.commit(len(chunk), result, rejected)
                books.published(len(chunk))
                continue
            with transaction.atomic():
                prepare_chunk()
                result, plan = upserter.plan(parsed, pipeline) if parsed else (ChunkResult(), None)
            if plan is not None and plan.creates_tags:
                # Its new tags must be committed before a later chunk links to them: it
                # goes alone, after the chunks before it, on this connection.
                pipeline.settle()
                with transaction.atomic():
                    prepare_chunk()
                    upserter.write(plan, result, upserter.writer, upserter.tag_ids)
                    books.commit(len(chunk), result, rejected)
                books.published(len(chunk))
                continue
            pipeline.submit(len(chunk), plan, result, rejected, dict(upserter.tag_ids))
        pipeline.settle()
    if counter is not None:
        counter.join()
        job.rows_total = counted[0] if counted else job.rows_done
        job.save(update_fields=["rows_total"])
    return False


def _may_write_in_parallel(job: ImportJob) -> bool:
    """Chunks are written on connections of their own only where they can commit on their
    own: on PostgreSQL, for a real run, outside a caller's transaction (the other
    connections would not see what it holds)."""
    return (
        WRITERS > 1
        and connection.vendor == "postgresql"
        and not job.dry_run
        and not connection.in_atomic_block
    )


def _finish(job: ImportJob, status: str) -> None:
    job.status = status
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "error"])
    verb = "Dry run of" if job.dry_run else "Imported"
    record(
        actor=job.created_by,
        obj=job,
        action="change",
        message=(
            f"{verb} {job.original_name} ({job.get_status_display().lower()}): {job.rows_done} rows, "
            f"{job.created} created, {job.updated} updated, {job.unchanged} unchanged, "
            f"{job.rejected} rejected"
        ),
    )
    publish_progress(job, 0.0, 0.0 if status == ImportJob.Status.DONE else None)
