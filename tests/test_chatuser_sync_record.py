"""Chat users keep their sync records in a table of their own (``ChatUserSync``): every way
of making chat users makes their records, the records' fields read and write as the chat
user's own, and the relay's bookkeeping writes the records alone."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from chatusers import services
from chatusers.models import ChatUser, ChatUserSync
from tests.conftest import RawWs
from tests.imports import run_import

pytestmark = pytest.mark.django_db(transaction=True)


def _each_has_its_record(bot) -> int:
    """Every chat user of ``bot`` has one record, with the chat user's bot and creation time."""
    rows = list(
        ChatUser.objects.filter(bot=bot).values_list(
            "pk", "bot_id", "created_at", "sync__pk", "sync__bot_id", "sync__created_at"
        )
    )
    for pk, bot_id, created_at, *record in rows:
        assert record == [pk, bot_id, created_at]
    assert ChatUserSync.objects.filter(bot=bot).count() == len(rows)
    return len(rows)


def test_every_way_of_making_chat_users_makes_their_records(bot, operator, raw_ws: RawWs) -> None:
    ChatUser.objects.create(bot=bot, name="Created", remote_id="r-created", sync_state="synced")
    ChatUser(bot=bot, name="Saved").save()
    ChatUser.objects.bulk_create([ChatUser(bot=bot, name=f"Bulk {n}") for n in range(3)])
    services.chatuser_create(bot=bot, actor=operator, name="Serviced")
    run_import(bot, operator, "name,email\nImported,imported@example.com\nOther,other@example.com\n")
    raw_ws.ok("chatusers.create", [{"name": f"Pulled {n}"} for n in range(3)])

    pull_bot(bot)  # the sandbox's three, and it pushed nothing of ours: no first load

    assert _each_has_its_record(bot) == 11
    assert ChatUser.objects.get(sync__remote_id="r-created").sync_state == "synced"
    pulled = ChatUser.objects.filter(name__startswith="Pulled")
    assert {(c.sync_state, bool(c.remote_id)) for c in pulled.select_related("sync")} == {("synced", True)}
    made_here = ChatUser.objects.exclude(name__startswith="Pulled").exclude(name="Created")
    assert set(made_here.values_list("sync__sync_state", flat=True)) == {"pending"}


def test_a_first_load_makes_a_record_for_each_chat_user(bot, raw_ws: RawWs) -> None:
    raw_ws.ok("chatusers.create", [{"name": f"Pulled {n}"} for n in range(5)])

    pull_bot(bot)

    assert _each_has_its_record(bot) == 5
    remote = {u["id"] for u in raw_ws.ok("chatusers.get", {"offset": 0, "limit": 10})["chatusers"]}
    assert set(ChatUserSync.objects.values_list("remote_id", flat=True)) == remote


def test_the_record_fields_are_saved_on_the_record_and_the_others_on_the_chat_user(bot) -> None:
    made = ChatUser.objects.create(bot=bot, name="Ada")
    chatuser = ChatUser.objects.get(pk=made.pk)  # its record not read

    chatuser.name = "Augusta"
    with CaptureQueriesContext(connection) as saving_a_field:
        chatuser.save(update_fields=["name"])
    chatuser.sync_state, chatuser.sync_error = "error", "refused"
    with CaptureQueriesContext(connection) as saving_the_record:
        chatuser.save(update_fields=["sync_state", "sync_error"])

    assert not any("chatusersync" in q["sql"] for q in saving_a_field.captured_queries)
    written = [q["sql"] for q in saving_the_record.captured_queries if q["sql"].startswith("UPDATE")]
    assert written and all(sql.startswith('UPDATE "chatusers_chatusersync"') for sql in written)
    saved = ChatUser.objects.filter(pk=made.pk).values_list("name", "sync__sync_state", "sync__sync_error")
    assert saved.get() == ("Augusta", "error", "refused")


def test_a_record_goes_with_its_chat_user_and_bulk_create_cannot_skip_rows(bot) -> None:
    chatuser = ChatUser.objects.create(bot=bot, name="Ada")

    chatuser.delete()

    assert not ChatUserSync.objects.exists()
    with pytest.raises(ValueError, match="cannot skip rows"):
        ChatUser.objects.bulk_create([ChatUser(bot=bot, name="Bo")], ignore_conflicts=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row versions (xmin) are PostgreSQL's")
def test_a_push_writes_the_records_and_leaves_the_chat_user_rows_alone(bot, operator) -> None:
    for n in range(3):
        services.chatuser_create(bot=bot, actor=operator, name=f"Ada {n}", email=f"ada{n}@example.com")

    def versions(table: str, key: str) -> dict[int, str]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {key}, xmin::text FROM {table}")  # noqa: S608 (constant names)
            return dict(cursor.fetchall())

    chatusers = versions("chatusers_chatuser", "id")
    records = versions("chatusers_chatusersync", "chatuser_id")

    report = push_pending(bot)

    assert report.sent == 3
    assert versions("chatusers_chatuser", "id") == chatusers
    after = versions("chatusers_chatusersync", "chatuser_id")
    assert after.keys() == records.keys() and all(after[pk] != records[pk] for pk in records)
    assert set(ChatUserSync.objects.values_list("sync_state", flat=True)) == {"synced"}
    assert ChatUserSync.objects.filter(remote_id__isnull=True).count() == 0
