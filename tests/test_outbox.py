"""The outbox: what services promise the relay, written in the change's transaction."""

import pytest
from django.db import transaction

from backoffice.sync.models import OutboxEntry, SyncState
from backoffice.sync.outbox import mark_changed
from chatusers.models import ChatUser
from tests.factories import ChatUserFactory

pytestmark = pytest.mark.django_db


def test_a_conflict_stays_a_conflict_when_the_object_changes_again():
    in_conflict = ChatUserFactory(sync_state=SyncState.CONFLICT)
    synced = ChatUserFactory(sync_state=SyncState.SYNCED)

    mark_changed([in_conflict, synced])

    assert (in_conflict.sync_state, synced.sync_state) == (SyncState.CONFLICT, SyncState.PENDING)
    assert dict(ChatUser.objects.values_list("pk", "sync_state")) == {
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
