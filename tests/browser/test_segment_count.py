"""A segment's page in a browser: the count of matching chat users follows the filters saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from chatusers.models import SegmentFilter
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_changing_a_filter_and_saving_changes_the_count_shown(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[..., Path]
) -> None:
    bot = BotFactory()
    ChatUserFactory.create_batch(3, bot=bot, language="it")
    ChatUserFactory.create_batch(2, bot=bot, language="en")
    ChatUserFactory(language="en")  # another bot's: never in this segment
    segment = SegmentFactory(bot=bot, name="Speakers")
    SegmentFilter.objects.create(segment=segment, position=0, field="language", op="eq", value="it")
    page = admin_page
    count_shown = page.locator(".field-matching_now .segment-count")

    page.goto(f"{live_server.url}/admin/chatusers/segment/{segment.pk}/change/")
    expect(count_shown).to_have_text("3")
    page.fill("#id_filters-0-value", "en")
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.locator(".messagelist .success")).to_be_visible()
    expect(count_shown).to_have_text("2")
    screenshot()
    assert list(segment.filters.values_list("position", "field", "op", "value", "name")) == [
        (0, "language", "eq", "en", "")
    ]
