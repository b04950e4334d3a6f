"""An operation's page in the admin: its starter follows it (progress, JSON for the page's
script, cancel, the file it wrote); nobody else sees it but a superuser."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from backoffice.operations.models import Operation
from backoffice.operations.tasks import cleanup
from tests.pages import crumbs

pytestmark = pytest.mark.django_db

OPERATIONS = "/admin/operations/operation/"


def _staff(name: str, **extra: Any) -> Any:
    return get_user_model().objects.create_user(name, f"{name}@example.com", "x", is_staff=True, **extra)


@pytest.fixture
def starter() -> Any:
    return _staff("ops")


@pytest.fixture
def running(starter: Any) -> Operation:
    return Operation.objects.create(
        kind="chatusers.export",
        title="Export as CSV: chat users, no filter",
        noun="chat users",
        created_by=starter,
        status="running",
        done=300,
        total=1200,
    )


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_starter_follows_the_operation_on_its_page(starter: Any, running: Operation) -> None:
    client = _client(starter)

    page = client.get(f"{OPERATIONS}{running.pk}/progress/").content.decode()
    state = client.get(f"{OPERATIONS}{running.pk}/progress.json").json()

    assert 'id="operation-progress"' in page
    assert crumbs(page) == ["Home", "Imports", "Operations", "Export as CSV: chat users, no filter"]
    assert 'value="Cancel"' in page
    assert (state["status"], state["done"], state["total"], state["finished"]) == (
        "running",
        300,
        1200,
        False,
    )
    assert (
        client.get(f"{OPERATIONS}{running.pk}/change/")["Location"] == f"{OPERATIONS}{running.pk}/progress/"
    )


def test_the_starter_cancels_it_and_a_finished_one_stays_as_it_was(starter: Any, running: Operation) -> None:
    client = _client(starter)

    first = client.post(f"{OPERATIONS}{running.pk}/cancel/", follow=True)
    running.refresh_from_db()
    assert running.cancel_requested is True
    assert "Cancelling: the operation stops after the chunk it is writing now." in first.content.decode()
    assert 'value="Cancel"' not in first.content.decode()

    Operation.objects.filter(pk=running.pk).update(status="done")
    second = client.post(f"{OPERATIONS}{running.pk}/cancel/", follow=True)
    assert "The operation had already finished." in second.content.decode()
    assert client.get(f"{OPERATIONS}{running.pk}/cancel/").status_code == 405


def test_another_operator_neither_sees_nor_cancels_nor_downloads_it(
    starter: Any, running: Operation, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    running.file = default_storage.save("operations/1/chatusers.csv", ContentFile(b"id\n"))
    running.status = "done"
    running.save()
    other = _client(_staff("eve"))

    for path in ("progress/", "progress.json", "download/"):
        assert other.get(f"{OPERATIONS}{running.pk}/{path}").status_code == 403
    assert other.post(f"{OPERATIONS}{running.pk}/cancel/").status_code == 403
    assert "Export as CSV" not in other.get(OPERATIONS).content.decode()
    # Their starter, and a superuser, do.
    assert "Export as CSV" in _client(starter).get(OPERATIONS).content.decode()
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    download = _client(admin).get(f"{OPERATIONS}{running.pk}/download/")
    assert b"".join(download.streaming_content) == b"id\n"


def test_a_file_that_expired_is_not_found_and_not_served(
    starter: Any, running: Operation, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    Operation.objects.filter(pk=running.pk).update(status="done", file="operations/1/gone.csv")

    response = _client(starter).get(f"{OPERATIONS}{running.pk}/download/")

    assert response.status_code == 404


def test_the_index_shows_the_operations_in_progress_to_their_starter(
    starter: Any, running: Operation
) -> None:
    Operation.objects.create(
        kind="chatusers.export", title="An old export", created_by=starter, status="done"
    )

    mine = _client(starter).get("/admin/").content.decode()
    theirs = _client(_staff("eve")).get("/admin/").content.decode()

    assert 'id="operations-running"' in mine
    assert f'href="{OPERATIONS}{running.pk}/progress/"' in mine
    assert "300 of 1,200 chat users" in mine
    assert "An old export" not in mine
    assert 'id="operations-running"' not in theirs


def test_files_of_operations_ended_long_ago_are_deleted(starter: Any, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path
    now = timezone.now()
    old, recent = (
        Operation.objects.create(
            kind="chatusers.export",
            title=title,
            created_by=starter,
            status="done",
            finished_at=now - age,
            file=default_storage.save(f"operations/{title}.csv", ContentFile(b"id\n")),
        )
        for title, age in (("old", timedelta(hours=25)), ("recent", timedelta(hours=1)))
    )

    assert cleanup() == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.file, default_storage.exists("operations/old.csv")) == ("", False)
    assert default_storage.exists(recent.file)
    assert cleanup() == 0  # nothing left to delete: a repeat is a no-op
