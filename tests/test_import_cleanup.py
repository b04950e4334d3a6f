"""What imports leave behind: a discarded draft goes at once, and a periodic clean-up deletes
old drafts, the stored uploads of finished imports and uploads no import refers to."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from backoffice.celery import app
from chatusers.import_models import ImportJob
from chatusers.imports.services import import_job_create, import_job_discard, import_job_run_for_real
from chatusers.imports.tasks import import_cleanup
from chatusers.imports.uploads import import_uploads_expire
from tests.factories import BotFactory
from tests.imports import run_import

pytestmark = pytest.mark.django_db

CONTENT = "name,email\nAda,ada@example.com\n"


@pytest.fixture(autouse=True)
def media(tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def actor() -> Any:
    return get_user_model().objects.create_user("operator", password="x")


def _draft(actor: Any, *, hours_old: float = 0) -> ImportJob:
    job = import_job_create(
        bot=BotFactory(), actor=actor, upload=SimpleUploadedFile("c.csv", CONTENT.encode())
    )
    _age(job, hours_old)
    return job


def _age(job: ImportJob, hours: float) -> None:
    then = timezone.now() - timedelta(hours=hours)
    ImportJob.objects.filter(pk=job.pk).update(created_at=then)
    if job.finished_at is not None:
        ImportJob.objects.filter(pk=job.pk).update(finished_at=then)
    job.refresh_from_db()


def _stored(name: str) -> bool:
    return default_storage.exists(name)


def test_discarding_a_draft_deletes_it_and_its_stored_upload(actor: Any) -> None:
    job = _draft(actor)
    name = job.file.name

    assert import_job_discard(job=job) is True

    assert not ImportJob.objects.filter(pk=job.pk).exists()
    assert not _stored(name)


def test_an_import_that_has_started_is_not_discarded(actor: Any) -> None:
    job = run_import(BotFactory(), actor, CONTENT)

    assert import_job_discard(job=job) is False

    job.refresh_from_db()
    assert (job.status, _stored(job.file.name)) == ("done", True)


def test_old_drafts_and_their_uploads_are_deleted_and_young_ones_kept(actor: Any) -> None:
    old, young = _draft(actor, hours_old=25), _draft(actor, hours_old=23)
    old_name = old.file.name

    deleted = import_uploads_expire(older_than=timedelta(hours=24))

    assert deleted == {"drafts": 1, "files": 1}
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [young.pk]
    assert (_stored(old_name), _stored(young.file.name)) == (False, True)


def test_a_finished_import_loses_its_upload_and_keeps_its_history(actor: Any) -> None:
    job = run_import(BotFactory(), actor, CONTENT + "Bob,bob@\n")
    name, rejected = job.file.name, job.rejected_file.name
    _age(job, 25)

    deleted = import_uploads_expire(older_than=timedelta(hours=24))

    job.refresh_from_db()
    assert deleted == {"drafts": 0, "files": 1}
    assert (job.status, job.created, job.rejected, job.file.name) == ("done", 1, 1, "")
    assert (_stored(name), _stored(rejected)) == (False, True)


@pytest.mark.parametrize("status", ["queued", "running"])
def test_an_import_that_may_still_read_its_file_keeps_it(actor: Any, status: str) -> None:
    job = _draft(actor, hours_old=48)
    ImportJob.objects.filter(pk=job.pk).update(status=status)

    deleted = import_uploads_expire(older_than=timedelta(hours=24))

    assert deleted == {"drafts": 0, "files": 0}
    assert _stored(job.file.name)


def test_a_file_a_younger_import_shares_is_kept(actor: Any) -> None:
    dry_run = run_import(BotFactory(), actor, CONTENT, dry_run=True)
    real = import_job_run_for_real(dry_run=dry_run, actor=actor)
    _age(dry_run, 25)

    deleted = import_uploads_expire(older_than=timedelta(hours=24))

    dry_run.refresh_from_db()
    assert deleted == {"drafts": 0, "files": 0}
    assert (dry_run.file.name, ImportJob.objects.get(pk=real.pk).file.name) == ("", real.file.name)
    assert _stored(real.file.name)


def test_an_old_upload_no_import_refers_to_is_deleted(actor: Any) -> None:
    old = default_storage.save("imports/left-behind.csv", SimpleUploadedFile("x", b"email\n"))
    young = default_storage.save("imports/just-stored.csv", SimpleUploadedFile("x", b"email\n"))
    then = (timezone.now() - timedelta(hours=25)).timestamp()
    os.utime(default_storage.path(old), (then, then))

    deleted = import_uploads_expire(older_than=timedelta(hours=24))

    assert deleted == {"drafts": 0, "files": 1}
    assert (_stored(old), _stored(young)) == (False, True)


def test_a_dry_run_whose_file_was_deleted_cannot_run_for_real(actor: Any) -> None:
    dry_run = run_import(BotFactory(), actor, CONTENT, dry_run=True)
    _age(dry_run, 25)
    import_uploads_expire(older_than=timedelta(hours=24))
    dry_run.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        import_job_run_for_real(dry_run=dry_run, actor=actor)

    assert refused.value.messages == [
        "The file of this dry run has been deleted, as old uploads are: upload it again to import it."
    ]
    assert ImportJob.objects.count() == 1


def test_the_cleanup_task_deletes_what_is_older_than_the_configured_hours(actor: Any, settings: Any) -> None:
    settings.CHATUSER_IMPORT_KEEP_UPLOADS_H = 2
    old, young = _draft(actor, hours_old=3), _draft(actor, hours_old=1)

    result = import_cleanup.apply().get()

    assert result == {"drafts": 1, "files": 1}
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [young.pk]
    assert not ImportJob.objects.filter(pk=old.pk).exists()


def test_the_cleanup_runs_every_hour_on_beat() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["chatusers.import_cleanup"]

    assert entry == {"task": "chatusers.import_cleanup", "schedule": 3600.0}
    assert app.tasks["chatusers.import_cleanup"].run is import_cleanup.run
    assert django_settings.CHATUSER_IMPORT_KEEP_UPLOADS_H == 24.0


def test_nothing_is_left_when_the_draft_cannot_be_saved(actor: Any, monkeypatch: Any) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ImportJob, "save", fail)

    with pytest.raises(RuntimeError):
        _draft(actor)

    folder = Path(django_settings.MEDIA_ROOT) / "imports"
    assert not folder.exists() or list(folder.iterdir()) == []
