"""The periodic sweep: the guarantee that every due change is pushed and every bot pulled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backoffice.sync import tasks
from backoffice.sync.models import BotSync, OutboxEntry
from tests.factories import BotFactory, ChatUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch: Any) -> dict[str, list[int]]:
    sent: dict[str, list[int]] = {"push": [], "pull": []}
    monkeypatch.setattr(tasks.push, "delay", sent["push"].append)
    monkeypatch.setattr(tasks.pull, "delay", lambda bot_id, **options: sent["pull"].append(bot_id))
    return sent


def test_the_sweep_queues_a_push_for_due_entries_and_a_pull_for_bots_past_their_interval(queued, settings):
    settings.SYNC_WAKE_SHARED_CACHE = False
    now = timezone.now()
    changed, idle, pulling = BotFactory(), BotFactory(), BotFactory()
    chatuser = ChatUserFactory(bot=changed)
    OutboxEntry.objects.create(bot=changed, object_type="chatusers.chatuser", object_id=chatuser.pk)
    OutboxEntry.objects.create(  # backing off: not due yet
        bot=idle, object_type="chatusers.chatuser", object_id=0, next_attempt_at=now + timedelta(minutes=1)
    )
    BotSync.objects.create(bot=changed, pull_started_at=now - timedelta(seconds=61))
    BotSync.objects.create(bot=idle, pull_started_at=now - timedelta(seconds=5))
    BotSync.objects.create(
        bot=pulling,
        pull_started_at=now - timedelta(seconds=600),
        pull_lease_until=now + timedelta(seconds=30),
    )

    result = tasks.sweep()

    assert queued == {"push": [changed.pk], "pull": [changed.pk]}
    assert result == "released 0, queued 1 pushes and 1 pulls"
