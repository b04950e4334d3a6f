"""The CSV import marks what it creates and changes for Userbot as every other path does:
one pending entry per chat user, a conflict left a conflict, and the relay woken once each
chunk commits, so the rows are pushed without waiting for the sweep.

The tests commit for real (the import's chunks do, and on PostgreSQL its writers run on
connections of their own), so each leaves nothing behind: pytest-django empties the tables.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from backoffice.sync import tasks
from backoffice.sync.models import OutboxEntry, SyncState
from backoffice.sync.outbox import mark_changed
from chatusers.imports import chunks
from chatusers.models import ChatUser
from tests.conftest import RawWs
from tests.factories import BotFactory, ChatUserFactory
from tests.imports import run_import

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def small_chunks(tmp_path: Any, settings: Any, monkeypatch: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 2)


@pytest.fixture
def actor() -> Any:
    return get_user_model().objects.create_user("operator", password="x")


@pytest.fixture
def woken(settings: Any, monkeypatch: Any) -> list[int]:
    """The bots whose relay a wake queues a push for (every wake, not deduplicated)."""
    settings.SYNC_WAKE_ON_COMMIT = True
    settings.SYNC_WAKE_SHARED_CACHE = False
    queued: list[int] = []
    monkeypatch.setattr(tasks.push, "delay", queued.append)
    return queued


def entries() -> list[tuple[int, str]]:
    return sorted(OutboxEntry.objects.values_list("object_id", "state"))


def test_each_chunk_of_an_import_wakes_the_relay_and_serving_the_wakes_pushes_every_row(
    bot: Any, actor: Any, raw_ws: RawWs, woken: list[int]
) -> None:
    rows = "\n".join(f"User {n},user{n}@example.com" for n in range(1, 6))

    job = run_import(bot, actor, f"name,email\n{rows}\n")

    assert (job.status, job.created) == ("done", 5)
    assert woken == [bot.pk] * 3  # three chunks of two rows at most, each woke it
    for bot_id in set(woken):
        tasks.push(bot_id)
    remote = raw_ws.ok("chatusers.get", {"offset": 0, "limit": 100})["chatusers"]
    assert sorted(user["email"] for user in remote) == [f"user{n}@example.com" for n in range(1, 6)]
    assert set(ChatUser.objects.values_list("sync__sync_state", flat=True)) == {SyncState.SYNCED}
    assert not OutboxEntry.objects.exists()


def test_a_dry_run_queues_nothing_and_wakes_nobody(actor: Any, woken: list[int]) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, email="ada@example.com", name="Ada")

    job = run_import(bot, actor, "name,email\nAugusta,ada@example.com\nBob,bob@example.com\n", dry_run=True)

    assert (job.status, job.created, job.updated) == ("done", 1, 1)
    assert not OutboxEntry.objects.exists()
    assert woken == []


def test_an_import_leaves_a_chat_user_in_conflict_in_conflict_and_queues_its_change(actor: Any) -> None:
    bot = BotFactory()
    in_conflict = ChatUserFactory(bot=bot, email="ada@example.com", name="Ada", sync_state=SyncState.CONFLICT)
    synced = ChatUserFactory(bot=bot, email="bob@example.com", name="Bob", sync_state=SyncState.SYNCED)

    job = run_import(bot, actor, "name,email\nAugusta,ada@example.com\nRobert,bob@example.com\n")

    assert (job.status, job.updated) == ("done", 2)
    assert dict(ChatUser.objects.values_list("email", "sync__sync_state")) == {
        "ada@example.com": SyncState.CONFLICT,
        "bob@example.com": SyncState.PENDING,
    }
    assert entries() == sorted([(in_conflict.pk, "pending"), (synced.pk, "pending")])


def test_an_import_adds_no_second_entry_beside_a_pending_one_however_often_it_runs(actor: Any) -> None:
    bot = BotFactory()
    edited = ChatUserFactory(bot=bot, email="ada@example.com", name="Ada")
    mark_changed([edited])  # an operator's edit, not pushed yet

    run_import(bot, actor, "name,email\nAugusta,ada@example.com\nBob,bob@example.com\n")
    run_import(bot, actor, "name,email\nAda Augusta,ada@example.com\nRobert,bob@example.com\n")

    bob = ChatUser.objects.get(email="bob@example.com")
    assert entries() == sorted([(edited.pk, "pending"), (bob.pk, "pending")])


def test_a_change_imported_while_a_push_is_in_flight_gets_a_pending_entry_of_its_own(actor: Any) -> None:
    bot = BotFactory()
    chatuser = ChatUserFactory(bot=bot, email="ada@example.com", name="Ada")
    mark_changed([chatuser])
    OutboxEntry.objects.update(state=OutboxEntry.State.IN_FLIGHT)  # the relay has taken it

    run_import(bot, actor, "name,email\nAugusta,ada@example.com\n")

    assert entries() == [(chatuser.pk, "in_flight"), (chatuser.pk, "pending")]
