"""A changelist's rows built once per column (``fast_result_list``) are Django's rows, character
for character: the chat user list with every column, and a list of field columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.admin.templatetags.admin_list import results
from django.contrib.auth import get_user_model

from backoffice.admin_site.columns import COOKIE_PREFIX
from backoffice.admin_site.rows import fast_results
from chatusers.models import ChatUserTag
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory, TagFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chatusers/chatuser/"
EVERY_COLUMN = (
    "short_email,phone,channel,language_code,tag_names,last_seen,sync_badge,last_synced,"
    "short_sync_error,created"
)
# Far enough back that "how long ago" reads as a date, the same in both renders.
LONG_AGO = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def admin_client(client: Any) -> Any:
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "x"))
    return client


def _both(cl: Any) -> tuple[list[str], list[str]]:
    django_rows = ["".join(str(cell) for cell in row) for row in results(cl)]
    fast_rows = ["".join(str(cell) for cell in row) for row in fast_results(cl)]
    return django_rows, fast_rows


def test_the_chat_user_rows_with_every_column_are_djangos(admin_client: Any) -> None:
    bot = BotFactory()
    vip, new = TagFactory(bot=bot, name="<vip>", color="#ff0000"), TagFactory(bot=bot, name="new")
    tagged = ChatUserFactory(
        bot=bot, name="Ada", surname="O'Hara & Co", phone="+393331234567", last_seen_at=LONG_AGO
    )
    ChatUserTag.objects.bulk_create([ChatUserTag(chatuser=tagged, tag=tag) for tag in (vip, new)])
    ChatUserFactory(
        bot=bot, name="", surname="", email=None, language="", sync_state="error",
        sync_error="timeout <b>" * 20, synced_at=LONG_AGO,
    )  # fmt: skip
    # A language is two letters; two characters that need escaping test the plain-text path.
    ChatUserFactory(bot=bot, name="Bea", surname="", email="Bea", channel="telegram", language="<&")
    admin_client.cookies[f"{COOKIE_PREFIX}chatusers_chatuser"] = EVERY_COLUMN

    page = admin_client.get(f"{CHANGELIST}?q=&channel__exact=webchat&o=-2")
    everyone = admin_client.get(CHANGELIST)

    django_rows, fast_rows = _both(page.context["cl"])
    assert len(fast_rows) == 2
    assert fast_rows == django_rows
    assert "_changelist_filters=q%3D%26channel__exact%3Dwebchat%26o%3D-2" in fast_rows[0]
    django_rows, fast_rows = _both(everyone.context["cl"])
    assert len(fast_rows) == 3
    assert fast_rows == django_rows
    assert fast_rows[0] in everyone.content.decode()


def test_a_list_of_field_columns_writes_djangos_rows(admin_client: Any) -> None:
    # Segments list a name, a count, a choice, a bot and a moment: fields, not methods.
    SegmentFactory(bot=BotFactory(name="Shop & Co"), name="<b>big</b>", match="any")
    SegmentFactory(name="none", sync_error="")

    page = admin_client.get("/admin/chatusers/segment/?q=&o=1")

    django_rows, fast_rows = _both(page.context["cl"])
    assert len(fast_rows) == 2
    assert fast_rows == django_rows
    assert 'class="field-updated_at nowrap"' in fast_rows[0]
