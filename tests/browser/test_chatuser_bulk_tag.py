"""The chat user list in a browser: search, then tag everyone the search matches, past the
first page, as a long operation the page follows until a worker has done it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from chatusers.models import ChatUserTag
from tests.browser.operations import run_as_a_worker
from tests.factories import BotFactory, ChatUserFactory, TagFactory

pytestmark = pytest.mark.django_db(transaction=True)

# More than one page of 100, so the list offers to select every match, not only the page.
MATCHING = 102


def test_add_tag_to_every_chat_user_the_search_matches(
    admin_page: Page,
    live_server: LiveServer,
    screenshot: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued: list[int] = []
    monkeypatch.setattr("backoffice.operations.tasks.run.delay", queued.append)
    bot = BotFactory()
    vip = TagFactory(bot=bot, name="vip")
    TagFactory(bot=bot, name="churned")
    matching = ChatUserFactory.create_batch(MATCHING, bot=bot, name="Giulia")
    others = ChatUserFactory.create_batch(3, bot=bot, name="Marco", surname="Bianchi")
    page = admin_page

    page.goto(f"{live_server.url}/admin/chatusers/chatuser/")
    page.fill("#searchbar", "giulia")
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(100)
    page.check("#action-toggle")
    page.get_by_role("button", name=f"Select all {MATCHING} chat users").click()
    expect(page.locator(".action-counter + .all")).to_have_text(f"All {MATCHING} selected")
    page.select_option("select[name=action]", "add_tag")
    page.get_by_role("button", name="Go").click()

    expect(page.locator("p.affected")).to_have_text(
        f"This applies to {MATCHING} chat users (every chat user matching the current filters and search)."
    )
    page.select_option("#id_tag", label="vip")
    screenshot("confirmation")
    page.get_by_role("button", name="Add the tag").click()

    expect(page.locator("h1")).to_have_text("Add a tag “vip”: chat users matching q=giulia")
    expect(page.locator('[data-field="status_label"]')).to_have_text("Queued")
    run_as_a_worker(queued)
    expect(page.locator(".operation-result")).to_have_text(f"Tag “vip” added to {MATCHING} chat users.")
    expect(page.locator('[data-field="done"]')).to_have_text(f"{MATCHING}")
    screenshot(full_page=False)
    assert set(ChatUserTag.objects.values_list("chatuser_id", "tag_id")) == {(c.pk, vip.pk) for c in matching}
    assert not ChatUserTag.objects.filter(chatuser__in=others).exists()
