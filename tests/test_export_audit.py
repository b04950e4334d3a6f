"""A CSV export of chat users carries personal data: the history records who took which and how many."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from chatusers.export import chatusers_export
from chatusers.models import ChatUser
from tests.factories import BotFactory
from tests.operations import run_started

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chatusers/chatuser/"


@pytest.fixture
def exporter(client: Client) -> Any:
    user = get_user_model().objects.create_superuser("ada", "ada@example.com", "x")
    client.force_login(user)
    return user


def _chatusers(bot: Any, count: int, **fields: Any) -> list[ChatUser]:
    return [
        ChatUser.objects.create(bot=bot, client_ref=f"{bot.pk}-{fields.get('channel', 'x')}-{n}", **fields)
        for n in range(count)
    ]


def _export(client: Client, query: str, selected: list[int], *, across: bool = False) -> Any:
    return client.post(
        f"{CHANGELIST}{query}",
        {
            "action": "export_csv",
            ACTION_CHECKBOX_NAME: [str(pk) for pk in selected],
            "select_across": "1" if across else "0",
            "index": "0",
        },
    )


def _exports() -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(ChatUser)).order_by("pk")
    )


def test_exporting_the_selection_records_who_how_many_and_which(client: Client, exporter: Any) -> None:
    bot = BotFactory()
    chosen = _chatusers(bot, 3, channel="webchat")

    response = _export(client, "?channel__exact=webchat", [c.pk for c in chosen[:2]])
    rows = b"".join(response.streaming_content).decode().splitlines()

    (entry,) = _exports()
    assert len(rows) == 3
    assert entry.user_id == exporter.pk
    assert entry.object_id is None
    assert entry.object_repr == "CSV export of 2 chat users"
    assert entry.change_message == (
        "Exported 2 chat users as CSV: filter channel__exact=webchat; "
        f"selected ids {chosen[0].pk}, {chosen[1].pk}"
    )


def test_exporting_everything_matching_records_the_filter_and_the_count(
    client: Client, exporter: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    bot, other = BotFactory(), BotFactory()
    mine = _chatusers(bot, 4, channel="api")
    _chatusers(other, 2, channel="api")

    # Everything the list matches is written by a worker; its starter downloads the file.
    operation = run_started(_export(client, f"?bot__id__exact={bot.pk}&q=&o=1", [mine[0].pk], across=True))
    download = client.get(f"/admin/operations/operation/{operation.pk}/download/")
    rows = b"".join(download.streaming_content).decode().splitlines()

    (entry,) = _exports()
    assert (operation.status, operation.done, operation.total) == ("done", 4, 4)
    assert operation.result == "Exported 4 chat users as CSV."
    assert len(rows) == 5
    assert entry.change_message == (
        f"Exported 4 chat users as CSV: filter bot__id__exact={bot.pk}, q=; every chat user matching it"
    )


def test_the_export_is_recorded_before_the_file_is_read(exporter: Any) -> None:
    bot = BotFactory()
    _chatusers(bot, 2)

    lines = chatusers_export(chatusers=ChatUser.objects.all(), actor=exporter, scope="no filter; test")

    # Nothing read yet: a download stopped at once is on record all the same.
    assert [e.object_repr for e in _exports()] == ["CSV export of 2 chat users"]
    assert len(list(lines)) == 3


def test_the_export_entry_is_on_the_exporters_recent_actions(client: Client, exporter: Any) -> None:
    bot = BotFactory()
    (one,) = _chatusers(bot, 1)
    b"".join(_export(client, "", [one.pk]).streaming_content)

    index = client.get("/admin/")

    assert "CSV export of 1 chat user" in index.content.decode()
