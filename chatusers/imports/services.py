"""The CSV import of chat users as an operator drives it: create a job from an upload,
configure it, start it, run a finished dry run for real, save a mapping, cancel, discard.

Starting a job queues the task that runs it (``tasks``), which calls ``run``; what a run
leaves behind is undone by ``undo`` and cleaned up by ``uploads``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.userbot.models import Bot
from chatusers.import_models import ImportJob, ImportMapping
from chatusers.imports.encoding import ImportRejected
from chatusers.imports.mapping import FIELD_TARGETS, propose_mapping, validate_mapping
from chatusers.imports.reading import size_text, sniff
from chatusers.imports.tasks import import_run
from chatusers.imports.uploads import delete_uploads
from chatusers.models import Tag

TAG_NAME_MAX = Tag._meta.get_field("name").max_length


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
    delete_uploads({name})
    return True


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
