"""The progress element every long operation shows, as an operator sees it: counts, a bar,
the rate and the time left moving while a worker runs it, and a cancel that stops it
between two chunks."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.operations import services
from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress
from backoffice.operations.runners import register
from tests.browser.operations import in_a_worker

pytestmark = pytest.mark.django_db(transaction=True)

STEPS, STEP = 300, 10


def _count_slowly(operation: Operation, progress: Progress) -> str:
    """A runner that takes its time: 3,000 rows, 10 every 50 ms."""
    progress.total(STEPS * STEP)
    for _ in range(STEPS):
        time.sleep(0.05)
        progress.advance(STEP)
    return "Counted them all."


register("tests.count_slowly", _count_slowly)


def test_the_operation_page_follows_a_running_operation_and_cancels_it(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[..., Path], monkeypatch: Any
) -> None:
    queued: list[int] = []
    monkeypatch.setattr("backoffice.operations.tasks.run.delay", queued.append)
    operation = services.operation_start(
        kind="tests.count_slowly",
        title="Count slowly",
        noun="rows",
        actor=get_user_model().objects.get(username="admin"),
        scope="every row matching no filter",
    )
    page = admin_page
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/operations/operation/{operation.pk}/progress/")
    expect(page.locator('[data-field="status_label"]')).to_have_text("Queued")

    worker = in_a_worker(operation.pk)

    expect(page.locator('[data-field="status_label"]')).to_have_text("Running")
    expect(page.locator('[data-field="rate_per_s"]')).to_have_text(re.compile(r"^\d[\d,]*$"))
    expect(page.locator('[data-field="eta_s"]')).to_have_text(re.compile(r"^\d+ s$"))
    expect(page.locator('[data-field="total"]')).to_have_text("3,000")
    assert int(page.locator('[data-field="bar"]').get_attribute("max") or 0) == STEPS * STEP
    screenshot("running")
    page.set_viewport_size({"width": 1024, "height": 768})
    screenshot("running-1024")
    page.set_viewport_size({"width": 1400, "height": 900})
    # The index lists it in progress, linked to its page.
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#operations-running")).to_contain_text("Count slowly")
    screenshot("index")
    page.locator("#operations-running a", has_text="Count slowly").click()

    page.get_by_role("button", name="Cancel").click()

    expect(page.locator('[data-field="status_label"]')).to_have_text("Cancelled")
    worker.join(timeout=30)
    operation.refresh_from_db()
    assert operation.status == "cancelled"
    assert 0 < operation.done < STEPS * STEP
    expect(page.locator(".operation-result")).to_have_text(
        f"Cancelled after {operation.done:,} of 3,000 rows. What was done before the cancel stays done."
    )
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    screenshot("cancelled")
