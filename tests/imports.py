"""Helpers shared by the CSV import's tests: a whole run of a file, and the rows it rejected."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from chatusers.import_models import ImportJob
from chatusers.imports.run import import_job_run
from chatusers.imports.services import import_job_configure, import_job_create


def run_import(bot: Any, actor: Any, content: str | bytes, **choices: Any) -> ImportJob:
    """Upload ``content`` as contacts.csv, configure it (upsert on email, overwriting, unless
    ``choices`` say otherwise), run it, and return the finished job."""
    data = content.encode() if isinstance(content, str) else content
    job = import_job_create(bot=bot, actor=actor, upload=SimpleUploadedFile("contacts.csv", data))
    options = {
        "mapping": job.mapping,
        "mode": "upsert",
        "match_key": "email",
        "overwrite": "overwrite",
        "extra_tags": [],
        "dry_run": False,
    }
    options.update(choices)
    import_job_configure(job=job, **options)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def rejected_rows(job: ImportJob) -> list[list[str]]:
    """The first two cells of each row in the job's file of rejected rows, without its header."""
    with job.rejected_file.open("r") as handle:
        return [row[:2] for row in csv.reader(io.StringIO(handle.read()))][1:]
