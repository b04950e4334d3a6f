"""Celery tasks of the chat user domain: thin, by id, calling services."""

from __future__ import annotations

from celery import shared_task

from chatusers.imports.services import import_job_run


@shared_task(name="chatusers.import_run", acks_late=True)
def import_run(job_id: int) -> None:
    """Run or resume one CSV import. Redelivered after a worker crash, it resumes after the
    job's last committed chunk; a finished job is left as it is."""
    import_job_run(job_id=job_id)
