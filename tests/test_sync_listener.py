"""The fast path: chat user events from Userbot applied without waiting for a full pull."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from backoffice.sync.listener import Listener, Refresher
from backoffice.sync.models import OutboxEntry
from backoffice.sync.relay import push_pending
from backoffice.userbot.codec import Event
from backoffice.userbot.models import Bot
from chatusers import services
from chatusers.models import ChatUser
from chatusers.sync.events import refresh_chatusers
from tests.conftest import APIKEY, SITEKEY
from tests.hostile import start_hostile, with_payload
from tests.sync_helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listening(bot: Any) -> Any:
    gaps: list[int] = []
    listener = Listener(lambda bot_id, label, events: refresh_chatusers(bot, events), flush_s=0.1)
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
        lambda: ChatUser.objects.filter(sync__remote_id=new["id"]).exists(),
        timeout=10,
        what="the new chat user",
    )
    wait_until(
        lambda: ChatUser.objects.get(pk=ada.pk).surname == "Lovelace",
        timeout=10,
        what="the surname set on Userbot",
    )
    assert ChatUser.objects.get(sync__remote_id=new["id"]).phone == "+393331234567"
    assert not OutboxEntry.objects.exists()
    assert listening == [bot.pk]  # the one pull asked for: what happened before listening

    raw_ws.ok("chatusers.delete", {"ids": [new["id"]]})
    wait_until(
        lambda: not ChatUser.objects.filter(sync__remote_id=new["id"]).exists(),
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


@pytest.mark.parametrize(
    "payload",
    [
        ["created", "u1"],
        {"op": "created"},
        {"op": "renamed", "id": "u1", "updated_at": "2026-11-24T09:30:00.000Z"},
        {"op": "updated", "id": 7, "updated_at": "2026-11-24T09:30:00.000Z"},
        {"op": "updated", "id": "u" * 10_000, "updated_at": "2026-11-24T09:30:00.000Z"},
    ],
)
def test_an_event_that_is_not_valid_is_dropped_with_its_reason_and_the_next_is_taken(payload, caplog):
    listener = Listener(lambda bot_id, label, events: None)
    good = {"op": "updated", "id": "u2", "updated_at": "2026-11-24T09:30:00.000Z"}

    listener._receive(1, Event("chatusers.changed", payload))
    listener._receive(1, Event("chatusers.changed", good))

    assert listener.events.get_nowait() == (1, "chatusers.chatuser", good)
    assert listener.events.empty()
    assert "chatusers.changed event of bot 1 is not valid and was dropped" in caplog.text


@pytest.mark.parametrize(
    "payload",
    [{"total": "many", "chatusers": {"id": 1}}, {"total": 1, "chatusers": [7, None, {"name": "no id"}]}, []],
)
def test_a_refresh_whose_reads_are_no_pages_leaves_the_chat_users_to_the_pull(bot, operator, payload):
    ada = services.chatuser_create(bot=bot, actor=operator, name="Ada", email="ada@example.com")
    push_pending(bot)
    with start_hostile(apikeys=(APIKEY,), sitekeys=(SITEKEY,)) as hostile:
        Bot.objects.filter(pk=bot.pk).update(server_url=hostile.url)
        bot.refresh_from_db()
        hostile.server.tamper("chatusers.get", with_payload(payload))

        counts = refresh_chatusers(
            bot, [{"op": "updated", "id": "elsewhere", "updated_at": "2030-01-01T00:00:00.000Z"}]
        )

    assert counts == {"echoes": 0, "applied": 0, "deleted": 0, "unresolved": 1}
    assert ChatUser.objects.get(pk=ada.pk).name == "Ada"


def test_events_that_come_together_go_as_one_batch_as_soon_as_they_stop_coming():
    dispatched: list[tuple[int, str, list[Any]]] = []
    listener = Listener(lambda bot_id, label, events: dispatched.append((bot_id, label, events)))
    for n in range(3):
        listener.events.put((7, "chatusers.chatuser", {"n": n}))

    started = time.monotonic()
    listener._flush(started + 5)

    # Not the whole window: the gathering ends a moment after the last of them.
    assert time.monotonic() - started < 1
    assert dispatched == [(7, "chatusers.chatuser", [{"n": 0}, {"n": 1}, {"n": 2}])]


def test_the_refresher_runs_refreshes_in_this_process_and_leaves_a_failed_one_to_a_pull(caplog):
    done: list[tuple[int, str, list[Any]]] = []
    pulls: list[int] = []

    def refresh(bot_id: int, label: str, events: list[Any]) -> None:
        if events == ["broken"]:
            raise RuntimeError("the refresh broke")
        done.append((bot_id, label, events))

    refresher = Refresher(refresh, pulls.append, threads=1)
    refresher(1, "chatusers.chatuser", ["fine"])
    refresher(2, "chatusers.chatuser", ["broken"])
    refresher.close()

    assert done == [(1, "chatusers.chatuser", ["fine"])]
    assert pulls == [2]
    assert "Refreshing 1 chatusers.chatuser of bot 2 failed" in caplog.text
