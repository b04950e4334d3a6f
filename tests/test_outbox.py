"""The outbox: what services promise the relay, written in the change's transaction."""

from typing import Any

import pytest
from django.db import transaction

from backoffice.sync import tasks
from backoffice.sync.models import OutboxEntry, SyncState
from backoffice.sync.outbox import mark_changed, mark_changed_ids
from chatusers.models import ChatUser
from tests.factories import BotFactory, ChatUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def woken(settings: Any, monkeypatch: Any) -> list[int]:
    """The bots whose relay a wake queues a push for (every wake, not deduplicated)."""
    settings.SYNC_WAKE_SHARED_CACHE = False
    queued: list[int] = []
    monkeypatch.setattr(tasks.push, "delay", queued.append)
    return queued


def test_a_conflict_stays_a_conflict_when_the_object_changes_again():
    in_conflict = ChatUserFactory(sync_state=SyncState.CONFLICT)
    synced = ChatUserFactory(sync_state=SyncState.SYNCED)

    mark_changed([in_conflict, synced])

    assert (in_conflict.sync_state, synced.sync_state) == (SyncState.CONFLICT, SyncState.PENDING)
    assert dict(ChatUser.objects.values_list("pk", "sync__sync_state")) == {
        in_conflict.pk: SyncState.CONFLICT,
        synced.pk: SyncState.PENDING,
    }
    assert OutboxEntry.objects.count() == 2


def test_an_entry_taken_by_the_relay_does_not_swallow_a_later_change():
    chatuser = ChatUserFactory()
    mark_changed([chatuser])
    OutboxEntry.objects.update(state=OutboxEntry.State.IN_FLIGHT)

    mark_changed([chatuser])
    mark_changed([chatuser])

    assert sorted(OutboxEntry.objects.values_list("state", flat=True)) == ["in_flight", "pending"]


def test_nothing_is_queued_when_the_change_rolls_back():
    chatuser = ChatUserFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        mark_changed([chatuser])
        raise RuntimeError("the change failed")

    assert not OutboxEntry.objects.exists()


def test_one_pending_entry_per_object_however_many_times_and_ways_it_is_marked():
    chatuser = ChatUserFactory()

    mark_changed([chatuser, chatuser])
    mark_changed_ids(ChatUser, chatuser.bot_id, [chatuser.pk, chatuser.pk])
    mark_changed_ids(ChatUser, chatuser.bot_id, [chatuser.pk])

    assert list(OutboxEntry.objects.values_list("object_id", "state")) == [(chatuser.pk, "pending")]


def test_marking_by_ids_keeps_a_conflict_and_flags_the_others_pending():
    bot = BotFactory()
    in_conflict = ChatUserFactory(bot=bot, sync_state=SyncState.CONFLICT)
    synced = ChatUserFactory(bot=bot, sync_state=SyncState.SYNCED)
    failed = ChatUserFactory(bot=bot, sync_state=SyncState.ERROR)
    untouched = ChatUserFactory(bot=bot, sync_state=SyncState.SYNCED)

    marked = mark_changed_ids(ChatUser, bot.pk, [in_conflict.pk, synced.pk, failed.pk])

    assert marked == 3
    assert dict(ChatUser.objects.values_list("pk", "sync__sync_state")) == {
        in_conflict.pk: SyncState.CONFLICT,
        synced.pk: SyncState.PENDING,
        failed.pk: SyncState.PENDING,
        untouched.pk: SyncState.SYNCED,
    }
    entries = OutboxEntry.objects.values_list(
        "bot_id", "object_type", "object_id", "state", "deleted", "attempts"
    )
    assert sorted(entries) == [
        (bot.pk, "chatusers.chatuser", pk, "pending", False, 0)
        for pk in sorted([in_conflict.pk, synced.pk, failed.pk])
    ]


def test_marking_nothing_writes_nothing_and_wakes_nobody(settings, django_capture_on_commit_callbacks):
    settings.SYNC_WAKE_ON_COMMIT = True

    with django_capture_on_commit_callbacks() as callbacks:
        assert mark_changed([]) == mark_changed_ids(ChatUser, 1, []) == 0

    assert callbacks == []
    assert not OutboxEntry.objects.exists()


def test_marking_wakes_the_relay_of_each_bot_once_the_change_commits(
    settings, woken, django_capture_on_commit_callbacks
):
    settings.SYNC_WAKE_ON_COMMIT = True
    first, second = ChatUserFactory(), ChatUserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        mark_changed([first, second])
        assert woken == []  # not before the commit: the relay would not see the entries

    assert sorted(woken) == sorted([first.bot_id, second.bot_id])
