"""The fast path: chat user events from Userbot applied without waiting for a full pull."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from backoffice.sync.listener import Listener, refresh_chatusers
from backoffice.sync.models import OutboxEntry
from backoffice.sync.relay import push_pending
from chatusers import services
from chatusers.models import ChatUser
from tests.sync_helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listening(bot: Any) -> Any:
    gaps: list[int] = []
    listener = Listener(lambda bot_id, events: refresh_chatusers(bot, events), flush_s=0.1)
    thread = threading.Thread(target=listener.run, kwargs={"on_gap": gaps.append}, daemon=True)
    thread.start()
    wait_until(lambda: bot.pk in listener.clients, timeout=10, what="the listener to connect")
    yield gaps
    listener.stop()
    thread.join(timeout=5)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the listener writes from a thread of its own; SQLite's shared in-memory test database "
    "locks whole tables between threads",
)
def test_changes_made_on_userbot_arrive_through_events_without_a_pull(bot, operator, raw_ws, listening):
    ada = services.chatuser_create(bot=bot, actor=operator, name="Ada", email="ada@example.com")
    push_pending(bot)
    ada.refresh_from_db()

    raw_ws.ok("chatusers.import", {"filename": "x.csv", "csv": f"id,surname\r\n{ada.remote_id},Lovelace\r\n"})
    [new] = raw_ws.ok("chatusers.create", [{"name": "Bo", "phone": "+393331234567"}])["chatusers"]

    wait_until(
        lambda: ChatUser.objects.filter(remote_id=new["id"]).exists(), timeout=10, what="the new chat user"
    )
    wait_until(
        lambda: ChatUser.objects.get(pk=ada.pk).surname == "Lovelace",
        timeout=10,
        what="the surname set on Userbot",
    )
    assert ChatUser.objects.get(remote_id=new["id"]).phone == "+393331234567"
    assert not OutboxEntry.objects.exists()
    assert listening == [bot.pk]  # the one pull asked for: what happened before listening

    raw_ws.ok("chatusers.delete", {"ids": [new["id"]]})
    wait_until(
        lambda: not ChatUser.objects.filter(remote_id=new["id"]).exists(),
        timeout=10,
        what="the chat user deleted on Userbot to go",
    )


def test_the_echo_of_our_own_push_changes_nothing(bot, operator):
    ada = services.chatuser_create(bot=bot, actor=operator, name="Ada")
    push_pending(bot)
    ada.refresh_from_db()

    counts = refresh_chatusers(
        bot, [{"op": "created", "id": ada.remote_id, "updated_at": ada.remote_updated_at.isoformat()}]
    )

    assert counts == {"echoes": 1, "applied": 0, "deleted": 0, "unresolved": 0}
