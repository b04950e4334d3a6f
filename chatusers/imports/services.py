"""The CSV import of chat users: create a job from an upload, configure, run, cancel, undo.

A run streams the file and commits a chunk at a time: the chunk's writes and the job's
counters commit together, so after a worker crash the job resumes after its last
committed chunk (``rows_done``) and nothing is counted or written twice.

Audit: one ``LogEntry`` per job summarising the run (and one per undo), not one per chat
user: a million-row import would otherwise write a million audit rows. The undo's
deletions go through ``chatusers_delete``, which records its own entries.
"""

from __future__ import annotations

import csv
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.audit import record
from backoffice.sync.outbox import mark_changed
from backoffice.userbot.models import Bot
from chatusers.export import neutralised
from chatusers.import_models import ImportChange, ImportJob, ImportMapping
from chatusers.imports.mapping import FIELD_TARGETS, propose_mapping, validate_mapping
from chatusers.imports.reading import FileFormat, ImportRejected, read_rows, size_text, sniff
from chatusers.imports.selectors import import_progress
from chatusers.imports.upsert import FIELDS, ChunkResult, Options, Upserter, prepare_chunk
from chatusers.imports.validation import ParsedRow, RowValidator
from chatusers.models import ChatUser, ChatUserTag, SegmentFilter, Tag, Variable
from chatusers.services import chatusers_delete, tag_delete

logger = logging.getLogger(__name__)

__all__ = [
    "ImportRejected",
    "import_job_cancel",
    "import_job_configure",
    "import_job_create",
    "import_job_created_tags",
    "import_job_discard",
    "import_job_remove_created_tags",
    "import_job_run",
    "import_job_run_for_real",
    "import_job_start",
    "import_job_undo",
    "import_mapping_save",
    "import_uploads_expire",
]

CHUNK_ROWS = 5000
# Connections that write chunks side by side on PostgreSQL (see ``_Writers``); 1 writes
# each chunk on the connection that decides it.
WRITERS = 2
TURN_CHECK_SECONDS = 0.2
# The first key of the advisory lock a running import holds (the second is the job's id).
RUN_LOCK_NAMESPACE = 5_0001
TAG_NAME_MAX = Tag._meta.get_field("name").max_length
REJECTED_HEADER = ["row", "reason"]
UPLOADS_DIR = "imports"
# Statuses after which an import never reads its file again.
FINISHED_STATUSES = (
    ImportJob.Status.DONE,
    ImportJob.Status.FAILED,
    ImportJob.Status.CANCELLED,
    ImportJob.Status.UNDONE,
)


def import_job_create(*, bot: Bot, actor: AbstractBaseUser, upload: UploadedFile) -> ImportJob:
    """Store the upload and read its format and header; ImportRejected for a file that
    cannot be imported at all (too large, empty, binary, an encoding we cannot read, too
    many columns)."""
    limit = settings.CHATUSER_IMPORT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ImportRejected(_too_large(upload.size, limit))
    upload.seek(0)
    file_format = sniff(upload.file, max_columns=settings.CHATUSER_IMPORT_MAX_COLUMNS)  # type: ignore[arg-type]
    upload.seek(0)
    job = ImportJob(
        bot=bot,
        created_by=actor,
        original_name=Path(upload.name or "upload.csv").name[:255],
        size_bytes=upload.size or 0,
        encoding=file_format.encoding,
        encoding_note=file_format.encoding_note,
        delimiter=file_format.delimiter,
        header=file_format.header,
        mapping=propose_mapping(file_format.header),
    )
    job.file.save(f"{bot.sitekey}.csv", upload, save=False)
    try:
        job.save()
    except BaseException:
        job.file.delete(save=False)
        raise
    return job


def _too_large(size: int, limit: int) -> str:
    shown, largest = size_text(size), size_text(limit)
    if shown == largest:  # just over the limit: rounding would make them look the same
        shown, largest = f"{size:,} bytes", f"{limit:,} bytes ({largest})"
    return f"The file is {shown}; the largest file the import takes is {largest}."


def import_job_discard(*, job: ImportJob) -> bool:
    """Delete a draft that will not run, and its stored upload unless another import reads
    the same file; False when the job had started (or was gone) and nothing was deleted."""
    name = job.file.name
    deleted, _ = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.DRAFT).delete()
    if not deleted:
        return False
    _delete_uploads({name})
    return True


def import_uploads_expire(*, older_than: timedelta) -> dict[str, int]:
    """Delete what imports leave behind once it is ``older_than``: drafts nobody ran, the
    stored uploads of finished imports (their counts, undo and rejected rows stay), and
    uploads no import refers to (a crash between storing a file and saving its job).

    A queued or running import keeps its file, and so does a file a younger import shares
    (a dry run's, run for real). Returns how many drafts and stored files it deleted."""
    cutoff = timezone.now() - older_than
    drafts = ImportJob.objects.filter(status=ImportJob.Status.DRAFT, created_at__lt=cutoff)
    names = set(drafts.values_list("file", flat=True))
    _, deleted = drafts.delete()
    finished = ImportJob.objects.filter(status__in=FINISHED_STATUSES).exclude(file="")
    finished = finished.filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff))
    names |= set(finished.values_list("file", flat=True))
    finished.update(file="")
    files = _delete_uploads(names)
    referred = set(ImportJob.objects.exclude(file="").values_list("file", flat=True))
    with suppress(FileNotFoundError):
        for filename in default_storage.listdir(UPLOADS_DIR)[1]:
            name = f"{UPLOADS_DIR}/{filename}"
            if name not in referred and default_storage.get_modified_time(name) < cutoff:
                default_storage.delete(name)
                files += 1
    return {"drafts": deleted.get(ImportJob._meta.label, 0), "files": files}


def _delete_uploads(names: set[str]) -> int:
    """Delete those of the stored uploads ``names`` that no import refers to any more."""
    names.discard("")
    referred = set(ImportJob.objects.filter(file__in=names).values_list("file", flat=True))
    gone = 0
    for name in names - referred:
        if default_storage.exists(name):
            default_storage.delete(name)
            gone += 1
    return gone


def import_job_configure(
    *,
    job: ImportJob,
    mapping: dict[str, str],
    mode: str,
    match_key: str,
    overwrite: str,
    extra_tags: Sequence[str],
    dry_run: bool,
) -> ImportJob:
    """Check and keep the operator's choices; ValidationError keyed by field."""
    if job.status != ImportJob.Status.DRAFT:
        raise ValidationError("Only an import that has not started can be changed.")
    errors: dict[str, list[str]] = {}
    checked: dict[str, str] = {}
    try:
        checked = validate_mapping(job.header, mapping)
    except ValidationError as error:
        errors.update(error.message_dict)
    if mode not in ImportJob.Mode.values:
        errors["mode"] = [f"“{mode}” is not one of {', '.join(ImportJob.Mode.values)}."]
    if match_key not in ImportJob.MatchKey.values:
        errors["match_key"] = [f"“{match_key}” is not one of {', '.join(ImportJob.MatchKey.values)}."]
    elif checked and match_key not in checked.values():
        label = ImportJob.MatchKey(match_key).label.lower()
        errors["match_key"] = [f"Matching by {label} needs a column mapped to {match_key}."]
    if match_key == ImportJob.MatchKey.REMOTE_ID and mode == ImportJob.Mode.CREATE:
        errors["mode"] = [
            "A chat user is given its Userbot id by Userbot: match by Userbot id only to update."
        ]
    if overwrite not in ImportJob.Overwrite.values:
        errors["overwrite"] = [f"“{overwrite}” is not one of {', '.join(ImportJob.Overwrite.values)}."]
    tags = list(dict.fromkeys(name.strip() for name in extra_tags if name.strip()))
    if any(len(name) > TAG_NAME_MAX for name in tags):
        errors["extra_tags"] = [f"A tag name has at most {TAG_NAME_MAX} characters."]
    elif len(tags) > (most := settings.CHATUSER_IMPORT_MAX_TAGS_PER_CELL):
        errors["extra_tags"] = [f"At most {most} tags for every row (there are {len(tags)})."]
    elif (new_tags := _new_tag_count(job.bot_id, tags)) > (most := settings.CHATUSER_IMPORT_MAX_NEW_TAGS):
        errors["extra_tags"] = [
            f"{new_tags} of these tags are new; one import creates at most {most} new tags."
        ]
    if checked and not set(checked.values()) & set(FIELD_TARGETS) - {"tags"} and not tags:
        if not any(target.startswith("var:") for target in checked.values()):
            errors.setdefault("mapping", []).append("Map at least one column to a field or a variable.")
    if errors:
        raise ValidationError(errors)
    job.mapping, job.mode, job.match_key, job.overwrite = checked, mode, match_key, overwrite
    job.extra_tags, job.dry_run = tags, dry_run
    job.save(update_fields=["mapping", "mode", "match_key", "overwrite", "extra_tags", "dry_run"])
    return job


def _new_tag_count(bot_id: int, names: Sequence[str]) -> int:
    if not names:
        return 0
    lower = {name.lower() for name in names}
    existing = Tag.objects.filter(bot_id=bot_id).annotate(lower=Lower("name")).filter(lower__in=lower).count()
    return len(lower) - existing


def import_job_start(*, job: ImportJob) -> None:
    """Queue the job for a worker, once the transaction that queued it commits."""
    from chatusers.tasks import import_run

    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.DRAFT).update(
        status=ImportJob.Status.QUEUED
    )
    if not updated:
        raise ValidationError("This import has already been started.")
    job.status = ImportJob.Status.QUEUED
    transaction.on_commit(lambda: import_run.delay(job.pk))


@transaction.atomic
def import_job_run_for_real(*, dry_run: ImportJob, actor: AbstractBaseUser) -> ImportJob:
    """Start a real import with a finished dry run's file and settings; returns the new job.

    The file's reading (encoding, delimiter, header) is already known, so it is copied, and
    the settings are checked again: ValidationError leaves nothing behind.
    """
    if not (dry_run.dry_run and dry_run.status == ImportJob.Status.DONE):
        raise ValidationError("Only a finished dry run can be run for real.")
    # Locked, so that the clean-up of old uploads either sees the import made here, or
    # has already let go of the file and this refuses.
    dry_run = ImportJob.objects.select_for_update().get(pk=dry_run.pk)
    if not dry_run.file.name or not default_storage.exists(dry_run.file.name):
        raise ValidationError(
            "The file of this dry run has been deleted, as old uploads are: upload it again to import it."
        )
    job = ImportJob.objects.create(
        bot=dry_run.bot,
        created_by=actor,
        file=dry_run.file.name,
        original_name=dry_run.original_name,
        size_bytes=dry_run.size_bytes,
        encoding=dry_run.encoding,
        encoding_note=dry_run.encoding_note,
        delimiter=dry_run.delimiter,
        header=dry_run.header,
        status=ImportJob.Status.DRAFT,
    )
    import_job_configure(
        job=job,
        mapping=dry_run.mapping,
        mode=dry_run.mode,
        match_key=dry_run.match_key,
        overwrite=dry_run.overwrite,
        extra_tags=dry_run.extra_tags,
        dry_run=False,
    )
    import_job_start(job=job)
    return job


def import_mapping_save(*, bot: Bot, name: str, columns: dict[str, str], actor: AbstractBaseUser) -> None:
    """Keep an operator's column choices under a name for reuse, replacing a mapping of that name."""
    ImportMapping.objects.update_or_create(
        bot=bot, name=name, defaults={"columns": columns, "created_by": actor}
    )


def import_job_cancel(*, job: ImportJob) -> None:
    """Ask a queued or running job to stop after its current chunk (a queued one stops at once)."""
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    )
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(cancel_requested=True)
    job.refresh_from_db(fields=["status", "cancel_requested", "finished_at"])


def _file_format(job: ImportJob) -> FileFormat:
    return FileFormat(
        encoding=job.encoding, encoding_note=job.encoding_note, delimiter=job.delimiter, header=job.header
    )


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _RejectedRows:
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


def _publish(job: ImportJob, rate: float, eta: float | None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "import.progress", **import_progress(job=job), "rate_per_s": rate, "eta_s": eta}
    try:
        async_to_sync(layer.group_send)(f"chatuser-import-{job.pk}", message)
    except Exception:  # progress is a courtesy: the counters on the job are the truth
        logger.warning("Could not publish the progress of import %s", job.pk, exc_info=True)


def _count_rows(job: ImportJob) -> int:
    with default_storage.open(job.file.name, "rb") as stream:
        return sum(1 for _ in read_rows(stream, _file_format(job)))


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
        rejected_rows = _RejectedRows(job, job.rows_done)
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
    rejected_rows: _RejectedRows,
    progress: Callable[[ImportJob, float, float | None], None] | None,
) -> bool:
    """Apply the file chunk by chunk; True when stopped by a cancel."""
    resume_after = job.rows_done
    # Counting the rows is a pass over the file of its own: it runs beside the import, and
    # the total (hence the time left) is shown from the first chunk after it is known.
    counted: list[int] = []
    counter = None
    if job.rows_total is None:
        counter = threading.Thread(target=lambda: counted.append(_count_rows(job)), daemon=True)
        counter.start()
    books = _Books(job, rejected_rows, counted, progress)
    writers = WRITERS if _may_write_in_parallel(job) else 0
    with _ValidatedChunks(job) as chunks, _Writers(upserter, books, writers) as pipeline:
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


class _Books:
    """A chunk's counters, rejected rows and progress, kept in file order; ``commit`` runs
    inside the chunk's transaction so that its counters commit with its rows."""

    def __init__(
        self,
        job: ImportJob,
        rejected_rows: _RejectedRows,
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
        _publish(job, round(rate, 1), None if eta is None else round(eta, 1))
        if self.progress is not None:
            self.progress(job, rate, eta)


@dataclass
class _Chunk:
    sequence: int
    rows: int
    plan: Any
    result: ChunkResult
    rejected: list[tuple[int, str, list[str]]]
    tag_ids: dict[str, int]
    backend_pid: int | None = None


class _YieldTurn(Exception):
    """The chunk before is waiting on a lock: roll back, so it can never be ours."""


class _Writers:
    """Writes decided chunks on connections of their own, committing them in file order.

    A chunk's rows, counters and outbox entries still commit in one transaction, and chunk
    n+1 commits only after chunk n, so ``rows_done`` still marks where a crashed run
    resumes. What overlaps is the work: the database inserts and checks one chunk while
    the next is written and this thread reads and decides the one after (PostgreSQL works
    a connection on one core).

    Chunks cannot lock each other out: the keys a chunk takes were claimed by its rows
    alone, and a chat user is changed by one row of a file. A chunk waiting for its turn
    holds locks, though, which someone the chunk before waits on might want: so while it
    waits it watches the chunk before, and if that one waits on a lock it rolls back and
    writes again once that one has committed.
    """

    def __init__(self, upserter: Upserter, books: _Books, width: int) -> None:
        self.upserter, self.books, self.width = upserter, books, width
        self.queue: queue.Queue[_Chunk | None] = queue.Queue()
        # A chunk is handed over only to a free writer: the next one waits, decided, in the
        # deciding thread, so at most width + 1 decided chunks are held at a time.
        self.free = threading.Semaphore(width)
        self.turn = threading.Condition()
        self.submitted = 0
        self.committed = 0
        self.failure: BaseException | None = None
        # The chunk that failed (0: the run itself): the chunks before it may still commit.
        self.failed_at = 0
        self.in_flight: dict[int, _Chunk] = {}
        self.threads = [
            threading.Thread(target=self._work, name=f"import-writer-{n}", daemon=True) for n in range(width)
        ]

    def __enter__(self) -> _Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.threads:
            return
        with self.turn:
            if self.failure is None and exc[0] is not None:
                # Chunks waiting for their turn roll back: the run stops at the last commit.
                self.failure = RuntimeError("the import stopped")
            self.turn.notify_all()
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()

    def touched(self) -> set[int]:
        with self.turn:
            return {pk for chunk in self.in_flight.values() if chunk.plan for pk in chunk.plan.touched()}

    def submit(
        self,
        rows: int,
        plan: Any,
        result: ChunkResult,
        rejected: list[tuple[int, str, list[str]]],
        tag_ids: dict[str, int],
    ) -> None:
        while not self.free.acquire(timeout=TURN_CHECK_SECONDS):
            with self.turn:
                self._raise_failure()
        with self.turn:
            try:
                self._raise_failure()
            except BaseException:
                self.free.release()
                raise
            self.submitted += 1
            chunk = _Chunk(self.submitted, rows, plan, result, rejected, tag_ids)
            self.in_flight[chunk.sequence] = chunk
        self.queue.put(chunk)

    def settle(self) -> None:
        """Wait until every chunk submitted has committed; raise what made one fail."""
        with self.turn:
            while self.committed < self.submitted and self.failure is None:
                self.turn.wait()
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _raise_failure_before(self, chunk: _Chunk) -> None:
        """A chunk after one that failed never gets its turn: it rolls back."""
        if self.failure is not None and self.failed_at < chunk.sequence:
            raise self.failure

    def _work(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend_pid = cursor.fetchone()[0]
            writer = self.upserter.new_writer()
            while (chunk := self.queue.get()) is not None:
                chunk.backend_pid = backend_pid
                try:
                    self._write(chunk, writer)
                except BaseException as error:
                    self._fail(error, chunk.sequence)
                    raise
                finally:
                    self.free.release()
        except BaseException as error:
            self._fail(error, 0)
        finally:
            connection.close()

    def _fail(self, error: BaseException, sequence: int) -> None:
        with self.turn:
            if self.failure is None:
                self.failure, self.failed_at = error, sequence
            self.turn.notify_all()

    def _write(self, chunk: _Chunk, writer: Any) -> None:
        while True:
            result = replace(chunk.result, rejected=list(chunk.result.rejected))
            try:
                with transaction.atomic():
                    prepare_chunk()
                    if chunk.plan is not None:
                        self.upserter.write(chunk.plan, result, writer, chunk.tag_ids, {})
                    self._wait_turn(chunk)
                    self.books.commit(chunk.rows, result, chunk.rejected)
            except _YieldTurn:
                with self.turn:
                    while self.committed < chunk.sequence - 1:
                        self._raise_failure_before(chunk)
                        self.turn.wait()
                continue
            break
        with self.turn:
            self.committed = chunk.sequence
            del self.in_flight[chunk.sequence]
            self.turn.notify_all()
        self.books.published(chunk.rows)

    def _wait_turn(self, chunk: _Chunk) -> None:
        while True:
            with self.turn:
                if self.committed >= chunk.sequence - 1:
                    return
                self._raise_failure_before(chunk)
                if self.turn.wait(timeout=TURN_CHECK_SECONDS):
                    continue
                before = self.in_flight.get(chunk.sequence - 1)
            if before is not None and before.backend_pid is not None and _blocked(before.backend_pid):
                raise _YieldTurn


def _blocked(backend_pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [backend_pid])
        return bool(cursor.fetchone()[0])


_Prepared = tuple[list[Any], list[ParsedRow], list[tuple[int, str, list[str]]]]


class _ValidatedChunks:
    """The file's chunks, read and validated by a thread one chunk ahead.

    Reading and validating is pure Python and the upsert mostly waits on the database,
    which releases the GIL: overlapping them keeps both busy. The thread starts a chunk only
    once the one before has been taken, so memory stays at two chunks whatever the file's
    size.
    """

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.queue: queue.Queue[_Prepared | BaseException | None] = queue.Queue(maxsize=1)
        self.wanted = threading.Semaphore(1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name=f"import-{job.pk}-reader", daemon=True)

    def __enter__(self) -> Iterator[_Prepared]:
        self.thread.start()
        return self._consume()

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        with suppress(queue.Empty):
            while True:
                self.queue.get_nowait()
        self.thread.join(timeout=30)

    def _consume(self) -> Iterator[_Prepared]:
        while True:
            item = self.queue.get()
            self.wanted.release()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: _Prepared | BaseException | None) -> bool:
        while not self.stopping.is_set():
            with suppress(queue.Full):
                self.queue.put(item, timeout=0.2)
                return True
        return False

    def _wait_until_wanted(self) -> bool:
        while not self.stopping.is_set():
            if self.wanted.acquire(timeout=0.2):
                return True
        return False

    def _produce(self) -> None:
        validator = RowValidator(self.job.header, self.job.mapping)
        try:
            # Its own file handle: the row counter reads the same file at the same time.
            with default_storage.open(self.job.file.name, "rb") as stream:
                # Closed before the file, when the run stops early: the reader detaches from it.
                with closing(_chunks(read_rows(stream, _file_format(self.job)), CHUNK_ROWS)) as chunks:
                    while self._wait_until_wanted() and (chunk := next(chunks, None)) is not None:
                        rejected: list[tuple[int, str, list[str]]] = []
                        if not self._put((chunk, _parsed(validator, chunk, rejected), rejected)):
                            return
                    if self.stopping.is_set():
                        return
        except BaseException as error:  # handed to the consumer, which fails the job with it
            self._put(error)
            return
        self._put(None)


def _parsed(
    validator: RowValidator, chunk: Sequence[Any], rejected: list[tuple[int, str, list[str]]]
) -> list[Any]:
    parsed = []
    for row in chunk:
        if row.error:
            rejected.append((row.number, row.error, row.cells))
            continue
        outcome = validator.parse(row.number, row.cells)
        if isinstance(outcome, str):
            rejected.append((row.number, outcome, row.cells))
        else:
            parsed.append(outcome)
    return parsed


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
    _publish(job, 0.0, 0.0 if status == ImportJob.Status.DONE else None)


def import_job_undo(*, job: ImportJob, actor: AbstractBaseUser) -> dict[str, int]:
    """Delete the chat users the job created (their deletion queued for Userbot) and put
    back the fields, tags and variables of those it changed; returns the counts."""
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.dry_run:
            raise ValidationError("A dry run changed nothing: there is nothing to undo.")
        if locked.status == ImportJob.Status.UNDONE:
            raise ValidationError("This import has already been undone.")
        if locked.status not in (ImportJob.Status.DONE, ImportJob.Status.CANCELLED, ImportJob.Status.FAILED):
            raise ValidationError("An import can be undone once it has stopped running.")
        locked.status = ImportJob.Status.UNDONE
        locked.save(update_fields=["status"])
    created_ids = ImportChange.objects.filter(job=job, created=True).values("chatuser_id")
    deleted = chatusers_delete(chatusers=ChatUser.objects.filter(pk__in=created_ids), actor=actor)
    restored = 0
    last = 0
    while True:
        changes = list(
            ImportChange.objects.filter(job=job, created=False, pk__gt=last).order_by("pk")[:CHUNK_ROWS]
        )
        if not changes:
            break
        last = changes[-1].pk
        with transaction.atomic():
            restored += _restore(job.bot_id, changes)
    job.status = ImportJob.Status.UNDONE
    tags = import_job_remove_created_tags(job=job, actor=actor)
    counts = {"deleted": deleted, "restored": restored, **tags}
    record(
        actor=actor,
        obj=job,
        action="change",
        message=f"Undone: {deleted} deleted, {restored} restored, {tags['tags_deleted']} new tags deleted",
    )
    return counts


def import_job_created_tags(*, job: ImportJob) -> dict[str, list[str]]:
    """The tags the job created, by what its undo does with them: ``deleted`` (held by no
    chat user once the import is undone, which the caller must check, and not on Userbot),
    ``on_userbot`` (kept: Userbot never deletes a tag, and its next pull would bring one
    back), ``in_use`` (a chat user the import did not touch, or a segment, uses it)."""
    tags = (
        Tag.objects.filter(pk__in=job.created_tags or [], bot_id=job.bot_id)
        .annotate(
            held=Exists(ChatUserTag.objects.filter(tag=OuterRef("pk"))),
            filtered=Exists(SegmentFilter.objects.filter(tag=OuterRef("pk"))),
        )
        .order_by("name")
    )
    found: dict[str, list[str]] = {"deleted": [], "on_userbot": [], "in_use": []}
    for tag in tags:
        if tag.remote_id:
            found["on_userbot"].append(tag.name)
        elif tag.held or tag.filtered:
            found["in_use"].append(tag.name)
        else:
            found["deleted"].append(tag.name)
    return found


def import_job_remove_created_tags(*, job: ImportJob, actor: AbstractBaseUser) -> dict[str, int]:
    """Delete the tags an undone import created that nothing uses any more, through
    ``tag_delete`` (recorded in each tag's history); returns ``tags_deleted`` and
    ``tags_kept``. Tags Userbot has stay: the protocol never deletes a tag, and a local
    deletion would come back with the next pull."""
    found = import_job_created_tags(job=job)
    deleted = 0
    for tag in Tag.objects.filter(bot_id=job.bot_id, name__in=found["deleted"], pk__in=job.created_tags):
        try:
            tag_delete(tag=tag, actor=actor)
        except ValidationError:
            continue  # taken up meanwhile (a segment filters on it, or Userbot has it now)
        deleted += 1
    kept = len(found["on_userbot"]) + len(found["in_use"]) + len(found["deleted"]) - deleted
    return {"tags_deleted": deleted, "tags_kept": kept}


def _restore(bot_id: int, changes: Sequence[ImportChange]) -> int:
    """Put the before-images back on the chat users that still exist, and queue them."""
    before = {change.chatuser_id: change.before or {} for change in changes}
    chatusers = list(ChatUser.objects.filter(pk__in=list(before)).only("id", "bot_id", *FIELDS))
    if not chatusers:
        return 0
    now = timezone.now()
    for chatuser in chatusers:
        for name, value in before[chatuser.pk].get("fields", {}).items():
            setattr(chatuser, name, value)
        chatuser.updated_at = now
    ChatUser.objects.bulk_update(chatusers, [*FIELDS, "updated_at"], batch_size=500)
    ids = [c.pk for c in chatusers]
    names = {name.lower() for c in chatusers for name in before[c.pk].get("tags", [])}
    existing = dict(
        Tag.objects.filter(bot_id=bot_id)
        .annotate(lower=Lower("name"))
        .filter(lower__in=names)
        .values_list("lower", "id")
    )
    missing = {n for c in chatusers for n in before[c.pk].get("tags", []) if n.lower() not in existing}
    if missing:
        Tag.objects.bulk_create([Tag(bot_id=bot_id, name=n) for n in missing], ignore_conflicts=True)
        existing.update(
            Tag.objects.filter(bot_id=bot_id)
            .annotate(lower=Lower("name"))
            .filter(lower__in=names)
            .values_list("lower", "id")
        )
    ChatUserTag.objects.filter(chatuser_id__in=ids).delete()
    ChatUserTag.objects.bulk_create(
        [
            ChatUserTag(chatuser_id=c.pk, tag_id=existing[name.lower()])
            for c in chatusers
            for name in before[c.pk].get("tags", [])
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    Variable.objects.filter(chatuser_id__in=ids).delete()
    Variable.objects.bulk_create(
        [
            Variable(chatuser_id=c.pk, name=name, value=value)
            for c in chatusers
            for name, value in before[c.pk].get("variables", {}).items()
        ],
        batch_size=500,
    )
    mark_changed(chatusers)
    return len(chatusers)
