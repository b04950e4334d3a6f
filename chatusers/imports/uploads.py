"""What imports leave in storage: the uploads of finished imports and drafts nobody ran,
deleted once old (``import_uploads_expire``, run hourly by Celery beat)."""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from chatusers.import_models import ImportJob

UPLOADS_DIR = "imports"
# Statuses after which an import never reads its file again.
FINISHED_STATUSES = (
    ImportJob.Status.DONE,
    ImportJob.Status.FAILED,
    ImportJob.Status.CANCELLED,
    ImportJob.Status.UNDONE,
)


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
    files = delete_uploads(names)
    referred = set(ImportJob.objects.exclude(file="").values_list("file", flat=True))
    with suppress(FileNotFoundError):
        for filename in default_storage.listdir(UPLOADS_DIR)[1]:
            name = f"{UPLOADS_DIR}/{filename}"
            if name not in referred and default_storage.get_modified_time(name) < cutoff:
                default_storage.delete(name)
                files += 1
    return {"drafts": deleted.get(ImportJob._meta.label, 0), "files": files}


def delete_uploads(names: set[str]) -> int:
    """Delete those of the stored uploads ``names`` that no import refers to any more."""
    names.discard("")
    referred = set(ImportJob.objects.filter(file__in=names).values_list("file", flat=True))
    gone = 0
    for name in names - referred:
        if default_storage.exists(name):
            default_storage.delete(name)
            gone += 1
    return gone
