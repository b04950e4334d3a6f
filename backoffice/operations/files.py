"""The files long operations write (an export's CSV): where they go, and their expiry."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from backoffice.operations.models import Operation


def operation_file_name(operation: Operation, name: str) -> str:
    """Where in the media storage the operation writes the file it hands out as ``name``."""
    return f"operations/{operation.pk}/{name}"


def operation_files_expire(*, older_than: timedelta) -> int:
    """Delete the files of operations that ended more than ``older_than`` ago; returns how many."""
    expired = Operation.objects.filter(finished_at__lt=timezone.now() - older_than).exclude(file="")
    deleted = 0
    for operation in expired.only("pk", "file"):
        default_storage.delete(operation.file)  # already gone: a no-op
        Operation.objects.filter(pk=operation.pk).update(file="")
        deleted += 1
    return deleted
