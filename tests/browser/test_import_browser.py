"""The CSV import as an operator sees it: upload, map a column to a variable, dry run, then
import for real, the page following a queued import until it finishes."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.celery import app as celery_app
from chatusers.import_models import ImportJob
from chatusers.models import ChatUser, Variable
from tests.factories import BotFactory, ChatUserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CONTACTS = (
    "Email,First name,Surname,Favourite colour\n"
    "ada@example.com,Ada,Lovelace,green\n"
    "grace@example.com,Grace,Hopper,blue\n"
    "not-an-email,Bad,Row,red\n"
)


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks run in the thread that queues them (the live server's, for a page's request)."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


def _counts(page: Page) -> dict[str, str]:
    return {
        name: page.locator(f'td[data-field="{name}"]').inner_text()
        for name in ("created", "updated", "unchanged", "rejected")
    }


def test_an_operator_maps_a_column_to_a_variable_dry_runs_then_imports(
    admin_page: Page,
    live_server: LiveServer,
    screenshot: Callable[..., Path],
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    eager_tasks: None,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    bot = BotFactory(name="Shop", sitekey="shop")
    ChatUserFactory(bot=bot, email="grace@example.com", name="Grace", surname="H.")
    page = admin_page

    page.goto(f"{live_server.url}/admin/chatusers/chatuser/")
    page.get_by_role("link", name="Import CSV").click()
    page.select_option("#id_bot", label=str(bot))
    page.set_input_files(
        "#id_file", files=[{"name": "contacts.csv", "mimeType": "text/csv", "buffer": CONTACTS.encode()}]
    )
    screenshot("upload")
    page.get_by_role("button", name="Upload and map the columns").click()

    expect(page.locator("h1")).to_have_text("Map the columns of contacts.csv")
    expect(page.locator("#import-delimiter")).to_have_text("comma")
    expect(page.locator("#id_target_0")).to_have_value("email")
    expect(page.locator("#id_target_1")).to_have_value("name")
    expect(page.locator("#id_target_3")).to_have_value("skip")
    page.select_option("#id_target_3", "var")
    page.fill("#id_variable_3", "colour")
    page.fill("#id_extra_tags", "spring fair")
    screenshot("mapping")
    page.get_by_role("button", name="Dry run", exact=True).click()

    expect(page.locator("h1")).to_have_text("Dry run of contacts.csv")
    assert _counts(page) == {"created": "1", "updated": "1", "unchanged": "0", "rejected": "1"}
    expect(page.locator("#import-rejected-download")).to_be_visible()
    screenshot("dry-run")
    assert list(ChatUser.objects.values_list("email", "surname")) == [("grace@example.com", "H.")]
    assert Variable.objects.count() == 0

    # The real run stays queued until the test runs it, so the page has to follow it.
    queued: list[int] = []
    monkeypatch.setattr(
        "chatusers.tasks.import_run.delay", lambda *args, **kwargs: queued.append(_job_id(args, kwargs))
    )
    page.get_by_role("button", name="Import for real with the same settings").click()

    expect(page.locator("h1")).to_have_text("Import of contacts.csv")
    expect(page.locator('[data-field="status"]')).to_have_text("queued")
    screenshot("queued", full_page=False)
    _run_beside_the_page(page, queued)
    expect(page.locator('[data-field="status"]')).to_have_text("done", timeout=10_000)

    assert _counts(page) == {"created": "1", "updated": "1", "unchanged": "0", "rejected": "1"}
    expect(page.get_by_role("link", name="Undo this import…")).to_be_visible()
    screenshot("done")
    real = ImportJob.objects.get(dry_run=False)
    assert (real.status, real.rows_total, real.created, real.updated, real.rejected) == ("done", 3, 1, 1, 1)
    assert sorted(ChatUser.objects.values_list("email", "name", "surname")) == [
        ("ada@example.com", "Ada", "Lovelace"),
        ("grace@example.com", "Grace", "Hopper"),
    ]
    assert sorted(Variable.objects.values_list("chatuser__email", "name", "value")) == [
        ("ada@example.com", "colour", "green"),
        ("grace@example.com", "colour", "blue"),
    ]
    assert sorted(ChatUser.objects.filter(tags__name="spring fair").values_list("email", flat=True)) == [
        "ada@example.com",
        "grace@example.com",
    ]

    page.get_by_role("link", name="All imports").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text(re.compile("dry run"))
    screenshot("history", full_page=False)


def _job_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return int(kwargs.get("job_id", args[0] if args else 0))


def _run_beside_the_page(page: Page, queued: list[int]) -> None:
    """Let the page poll the queued import for a moment, then run it as a worker would: in
    a thread of its own, since this one keeps the browser's event loop."""
    from chatusers.imports.run import import_job_run

    assert len(queued) == 1
    page.wait_for_timeout(1500)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            import_job_run(job_id=queued[0])
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=30)
    assert failures == []
