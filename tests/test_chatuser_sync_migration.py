"""The migration that moves the chat users' sync records to their own table keeps every
record, both ways: forward into ``ChatUserSync``, and back onto the chat users' rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("chatusers", "0006_search_statistics")]
AFTER = [("chatusers", "0007_chatuser_sync_record")]
RECORD = ("remote_id", "sync_state", "synced_at", "remote_updated_at", "sync_error", "synced_snapshot")
SYNCED_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate to ``targets``; returns the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _records(model: Any) -> dict[int, tuple[Any, ...]]:
    return {pk: tuple(values) for pk, *values in model.objects.values_list("pk", *RECORD)}


def test_every_record_moves_to_its_table_and_back() -> None:
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = _migrate(BEFORE)
    bot = old.get_model("userbot", "Bot").objects.create(
        name="Bot", sitekey="migrated", server_url="ws://127.0.0.1:9/", apikey_ciphertext=""
    )
    chatuser = old.get_model("chatusers", "ChatUser")
    chatuser.objects.create(
        bot_id=bot.pk,
        client_ref="a",
        name="Ada",
        remote_id="r-ada",
        sync_state="synced",
        synced_at=SYNCED_AT,
        remote_updated_at=SYNCED_AT,
        synced_snapshot={"name": "Ada", "tags": ["vip"]},
    )
    chatuser.objects.create(bot_id=bot.pk, client_ref="b", name="Bo", sync_state="error", sync_error="400")
    chatuser.objects.create(bot_id=bot.pk, client_ref="c", name="Cy")  # pending, never pushed
    before = _records(chatuser)

    new = _migrate(AFTER)
    moved = _records(new.get_model("chatusers", "ChatUserSync"))
    copies = set(new.get_model("chatusers", "ChatUserSync").objects.values_list("pk", "bot_id", "created_at"))
    made = set(new.get_model("chatusers", "ChatUser").objects.values_list("pk", "bot_id", "created_at"))
    restored = _records(_migrate(BEFORE).get_model("chatusers", "ChatUser"))
    _migrate(latest)

    assert len(before) == 3 and {state for _, state, *_ in before.values()} == {"synced", "error", "pending"}
    assert moved == before == restored
    assert copies == made
