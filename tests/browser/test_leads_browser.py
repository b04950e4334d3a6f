"""The lead list in a browser: filter, tag every lead shown, and see the tag reach Userbot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from leads.models import Lead
from tests.conftest import SITEKEY
from tests.leads_world import intel, lead_bot  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_tag_the_leads_of_a_country_and_see_it_reach_userbot(
    admin_page: Page,
    live_server: LiveServer,
    screenshot: Callable[..., Path],
    lead_bot: Any,  # noqa: F811
    intel: Any,  # noqa: F811
) -> None:
    pull_bot(lead_bot)
    italian = set(Lead.objects.filter(country="IT").values_list("remote_id", flat=True))
    assert italian
    page = admin_page

    page.goto(f"{live_server.url}/admin/leads/lead/?country=IT")
    expect(page.locator("#result_list tbody tr")).to_have_count(len(italian))
    page.check("#action-toggle")
    page.select_option("select[name=action]", "add_tag")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("p.affected")).to_have_text(f"This applies to {len(italian)} leads (the selected).")
    page.fill("#id_tag", "Trade fair 2026")
    screenshot("confirmation")
    page.get_by_role("button", name="Add the tag").click()
    expect(page.locator(".messagelist .success")).to_have_text(
        f"Tag “Trade fair 2026” added to {len(italian)} leads."
    )

    report = push_pending(lead_bot)

    assert (report.sent, report.dead) == (len(italian), 0)
    remote = intel.store.bots[SITEKEY].leads
    assert {lid for lid, lead in remote.items() if "Trade fair 2026" in lead["tags"]} == italian
    asked = intel.server.asked("intel.addtag")
    assert sorted(p["lead_id"] for p in asked) == sorted(italian)
    page.reload()
    expect(page.locator("#result_list .sync-state.synced")).to_have_count(len(italian))
    screenshot(full_page=False)
