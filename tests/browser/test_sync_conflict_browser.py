"""A conflict in a browser: from the chat user's warning to the conflict page, take Userbot's
value, and the chat user shows it, in sync."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.sync.models import OutboxEntry, SyncConflict
from chatusers.models import ChatUser
from tests.factories import BotFactory, ChatUserFactory
from tests.sync_helpers import in_conflict

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_takes_userbots_value_from_the_conflict_page(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[..., Path]
) -> None:
    chatuser = ChatUserFactory(bot=BotFactory(name="Shop"), name="Ours", surname="Rossi")
    in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))
    page = admin_page

    page.goto(f"{live_server.url}/admin/chatusers/chatuser/{chatuser.pk}/change/")
    note = page.locator(".sync-conflicts-note")
    expect(note).to_contain_text("This chat user has 1 open conflict with Userbot")
    note.get_by_role("link", name="it is resolved").click()

    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Ours Rossi").click()

    expect(page.locator("td.base")).to_have_text("Ada")
    expect(page.locator("td.ours")).to_have_text("Ours")
    expect(page.locator("td.theirs")).to_have_text("Theirs")
    screenshot("conflict")
    page.get_by_role("button", name="Take theirs").click()

    expect(page.locator(".messagelist .success")).to_have_text(
        "Took Userbot's value for “name” of Ours Rossi: it is in sync with Userbot."
    )
    expect(page.get_by_role("button", name="Take theirs")).to_have_count(0)
    page.locator(".conflict-object a").click()

    expect(page.locator("#id_name")).to_have_value("Theirs")
    expect(page.locator(".field-sync_state .readonly")).to_have_text("Synced")
    expect(page.locator(".sync-conflicts-note")).to_have_count(0)
    screenshot("chat user", full_page=False)
    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.sync_state) == ("Theirs", "synced")
    assert not OutboxEntry.objects.exists()
    assert SyncConflict.objects.get().resolution == "theirs"
    assert ChatUser.objects.count() == 1
