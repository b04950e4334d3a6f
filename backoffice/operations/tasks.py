"""The worker's side of long operations: thin, by id."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from backoffice.operations.files import operation_files_expire
from backoffice.operations.run import operation_run


@shared_task(name="operations.run", acks_late=True)
def run(operation_id: int) -> str:
    """Run one operation. Redelivered after a worker died, it does what is left."""
    return operation_run(operation_id=operation_id)


@shared_task(name="operations.cleanup")
def cleanup() -> int:
    """Delete the files of operations ended more than OPERATIONS_KEEP_FILES_H hours ago."""
    return operation_files_expire(older_than=timedelta(hours=settings.OPERATIONS_KEEP_FILES_H))
