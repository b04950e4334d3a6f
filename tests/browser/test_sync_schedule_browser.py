"""A bot's sync page in a browser: the pull's pace, when the next is due, a pull running; and
the list of bots with the next pull of each, at the operators' usual 1400 x 900."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.sync.models import BotSync
from tests.browser.csp import CspWatch
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)

BOT_SYNCS = "/admin/sync/botsync/"


def test_the_sync_page_shows_the_pull_s_pace_and_when_the_next_is_due(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[..., Path], settings: object
) -> None:
    settings.SYNC_PULL_DUTY = 4.0  # type: ignore[attr-defined]
    now = timezone.now()
    paced = BotSync.objects.create(
        bot=BotFactory(name="Shop", sitekey="shop"),
        pull_started_at=now - timedelta(seconds=40),  # due in 80 s: "in 1 min" for 35 s more
        pull_finished_at=now - timedelta(seconds=10),
        pull_duration_s=30.0,
        pull_report={"chatusers": {"updated": 12}, "segments": {"unchanged": 4}},
    )
    running = BotSync.objects.create(
        bot=BotFactory(name="Big store", sitekey="big-store"),
        pull_started_at=now - timedelta(seconds=95),
        pull_lease_until=now + timedelta(seconds=100),
        pull_finished_at=now - timedelta(minutes=9),
        pull_duration_s=250.0,
    )
    BotSync.objects.create(bot=BotFactory(name="New bot", sitekey="new-bot"))
    page = admin_page
    page.set_viewport_size({"width": 1400, "height": 900})
    watch = CspWatch(page)

    watch.visit(f"{live_server.url}{BOT_SYNCS}{paced.pk}/change/")
    expect(page.locator(".field-pull_pace .readonly")).to_have_text(
        "2 min4 times the last full reconciliation (30 s)."
    )
    expect(page.locator(".field-next_pull .readonly")).to_have_text("due in 1 min")
    expect(page.locator(".field-last_reconciliation .readonly")).to_have_text("finished just now, took 30 s")
    screenshot("paced")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400

    watch.visit(f"{live_server.url}{BOT_SYNCS}{running.pk}/change/")
    expect(page.locator(".field-next_pull .readonly")).to_contain_text("running since ")
    expect(page.locator(".field-next_pull .readonly")).to_contain_text(re.compile(r"\(1 min \d+ s so far\)$"))
    expect(page.locator(".field-pull_pace .readonly")).to_have_text(
        "5 minThe longest allowed: 4 times the last full reconciliation (4 min 10 s) would be 16 min 40 s."
    )
    screenshot("running")

    watch.visit(f"{live_server.url}{BOT_SYNCS}")
    pulls = page.locator("#result_list td.field-last_pull")
    expect(pulls).to_have_text(
        [re.compile(r"running for 1 min \d+ s$"), "due now", re.compile(r"finished just now\s*due in 1 min$")]
    )
    screenshot("list", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    watch.assert_clean()
