"""Celery tasks of the CSV import: thin, by id, calling its services.

They live with the import, whose services queue them; ``chatusers.tasks``, the module the
worker reads for the chat user domain's tasks, registers them from here.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from chatusers.imports.run import import_job_run
from chatusers.imports.uploads import import_uploads_expire


@shared_task(name="chatusers.import_run", acks_late=True)
def import_run(job_id: int) -> None:
    """Run or resume one CSV import. Redelivered after a worker crash, it resumes after the
    job's last committed chunk; a finished job is left as it is."""
    import_job_run(job_id=job_id)


@shared_task(name="chatusers.import_cleanup")
def import_cleanup() -> dict[str, int]:
    """Delete import drafts and stored uploads older than CHATUSER_IMPORT_KEEP_UPLOADS_H
    hours (run by Celery beat); deleting what is already gone is a no-op, so a repeat is safe."""
    return import_uploads_expire(older_than=timedelta(hours=settings.CHATUSER_IMPORT_KEEP_UPLOADS_H))
