"""The fast path: chat user events from Userbot applied without waiting for a full pull."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from backoffice.sync import tasks
from backoffice.sync.listener import Listener, Refresher
from backoffice.sync.models import OutboxEntry
from backoffice.sync.relay import push_pending
from backoffice.userbot.codec import Event
from backoffice.userbot.connections import client_for
from backoffice.userbot.models import Bot
from chatusers import services
from chatusers.models import ChatUser
from chatusers.sync.events import refresh_chatusers
from sandbox.runner import SandboxHandle, start_sandbox
from tests.conftest import APIKEY, SITEKEY, RawWs
from tests.hostile import RecordingServer, drop, start_hostile, with_payload
from tests.sync_helpers import LABEL, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def refreshed(bot: Bot, events: list[dict[str, Any]]) -> dict[str, int]:
    """``refresh_chatusers`` over a client of its own, as the ``sync.refresh`` task runs it."""
    with client_for(bot) as client:
        return refresh_chatusers(bot, events, client=client)


@pytest.fixture
def listening(bot: Any) -> Any:
    gaps: list[int] = []
    listener = Listener(lambda bot_id, label, events: refreshed(bot, events), flush_s=0.1)
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

    counts = refreshed(
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

        counts = refreshed(
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

    def refresh(bot_id: int, label: str, events: list[Any], *, client_of: Any) -> None:
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


# --- the refresher's kept clients ---------------------------------------------------------------

EDITOR_KEY = "editor-key"  # an agent on Userbot, whose logins are not the refresher's
NEW_KEY = "new-key"  # the bot's key after an operator changes it


@pytest.fixture
def recorded() -> Iterator[SandboxHandle]:
    """A sandbox of its own that keeps every frame it is sent (``server.frames``)."""
    apikeys = (APIKEY, EDITOR_KEY, NEW_KEY)
    with start_sandbox(apikeys=apikeys, sitekeys=(SITEKEY,), server_class=RecordingServer) as handle:
        yield handle


@pytest.fixture
def ada(recorded: SandboxHandle, operator: Any) -> Any:
    """A chat user of a bot on ``recorded``, pushed there."""
    bot = Bot(name="Recorded bot", sitekey=SITEKEY, server_url=recorded.url)
    bot.set_apikey(APIKEY)
    bot.save()
    ada = services.chatuser_create(bot=bot, actor=operator, name="Ada", email="ada@example.com")
    push_pending(bot)
    ada.refresh_from_db()
    return ada


@pytest.fixture
def pulls(monkeypatch: Any) -> list[int]:
    """The bots a pull was asked for (``tasks.pull_now``), instead of queueing one."""
    asked: list[int] = []
    monkeypatch.setattr(tasks, "pull_now", asked.append)
    return asked


@pytest.fixture
def make_refresher(pulls: list[int]) -> Iterator[Callable[..., tuple[Refresher, queue.Queue[str]]]]:
    """Start refreshers running the real refresh: each with what its refreshes returned, in
    order. They are closed after the test."""
    started: list[Refresher] = []

    def start(**options: Any) -> tuple[Refresher, queue.Queue[str]]:
        results: queue.Queue[str] = queue.Queue()

        def refresh(*args: Any, **kwargs: Any) -> str:
            try:
                result = tasks.refresh_events(*args, **kwargs)
            finally:
                connection.close()  # this thread's: the test reads once the result is in
            results.put(result)
            return result

        refresher = Refresher(refresh, pulls.append, **options)
        started.append(refresher)
        return refresher, results

    yield start
    for refresher in started:
        refresher.close()


def change_on_userbot(url: str, chatuser: Any, surname: str) -> dict[str, Any]:
    """Set the chat user's surname on Userbot (another connection, as an agent there would) and
    return the ``chatusers.changed`` event that says so."""
    editor = RawWs(url).login(apikey=EDITOR_KEY)
    try:
        editor.ok(
            "chatusers.import",
            {"filename": "x.csv", "csv": f"id,surname\r\n{chatuser.remote_id},{surname}\r\n"},
        )
        [now] = editor.ok("chatusers.get", {"offset": 0, "limit": 1, "search": chatuser.email})["chatusers"]
    finally:
        editor.close()
    return {"op": "updated", "id": chatuser.remote_id, "updated_at": now["updated_at"]}


def logins(userbot: SandboxHandle, *, since: int, apikey: str = APIKEY) -> int:
    """How many times ``apikey`` logged in to ``userbot`` after its first ``since`` frames."""
    return userbot.server.frames[since:].count(f"apiLogin {apikey}")


APPLIED = str({"echoes": 0, "applied": 1, "deleted": 0, "unresolved": 0})


def test_a_bot_s_refreshes_through_the_refresher_log_in_to_userbot_once(recorded, ada, make_refresher, pulls):
    refresher, results = make_refresher()
    since = len(recorded.server.frames)

    for surname in ("Lovelace", "Byron", "King"):
        refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, surname)])

        assert results.get(timeout=10) == APPLIED
        assert ChatUser.objects.get(pk=ada.pk).surname == surname

    assert logins(recorded, since=since) == 1
    assert pulls == []


def test_after_userbot_drops_the_kept_connection_the_next_refresh_logs_in_again_and_applies_the_change(
    recorded, ada, make_refresher, pulls
):
    refresher, results = make_refresher()
    refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, "Lovelace")])
    assert results.get(timeout=10) == APPLIED
    [dropped] = refresher.clients.clients().values()
    since = len(recorded.server.frames)

    recorded.drop_connections()
    wait_until(lambda: not dropped.connected, timeout=10, what="the client to see its connection go")
    refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, "Byron")])

    assert results.get(timeout=10) == APPLIED
    assert ChatUser.objects.get(pk=ada.pk).surname == "Byron"
    assert logins(recorded, since=since) == 1
    [kept] = refresher.clients.clients().values()
    assert kept is not dropped and kept.connected
    assert pulls == []


def test_a_refresh_whose_connection_breaks_asks_for_a_pull_and_the_next_starts_on_a_new_client(
    recorded, ada, make_refresher, pulls
):
    refresher, results = make_refresher()
    refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, "Lovelace")])
    assert results.get(timeout=10) == APPLIED
    [broken] = refresher.clients.clients().values()
    event = change_on_userbot(recorded.url, ada, "Byron")

    recorded.server.tamper("chatusers.get", drop)  # every read: the client's reconnect fails as well
    refresher(ada.bot_id, LABEL, [event])

    assert results.get(timeout=30).startswith("failed, pull queued: ")
    assert pulls == [ada.bot_id]
    assert refresher.clients.clients() == {}
    assert not broken.connected
    assert ChatUser.objects.get(pk=ada.pk).surname == "Lovelace"

    recorded.server.calm()
    refresher(ada.bot_id, LABEL, [event])

    assert results.get(timeout=10) == APPLIED
    assert ChatUser.objects.get(pk=ada.pk).surname == "Byron"
    [kept] = refresher.clients.clients().values()
    assert kept is not broken and kept.connected
    assert pulls == [ada.bot_id]


def test_closing_the_refresher_closes_its_kept_clients(recorded, ada, make_refresher):
    refresher, results = make_refresher()
    refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, "Lovelace")])
    assert results.get(timeout=10) == APPLIED
    [kept] = refresher.clients.clients().values()
    wait_until(lambda: len(recorded.server.sessions) == 1, timeout=10, what="the editor's connection to go")

    refresher.close()

    assert refresher.clients.clients() == {}
    assert not kept.connected
    wait_until(lambda: not recorded.server.sessions, timeout=10, what="Userbot to see the connection closed")


def test_a_kept_client_nobody_used_for_a_while_is_closed(recorded, ada, make_refresher):
    refresher, results = make_refresher(idle_s=0.5)
    refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, "Lovelace")])
    assert results.get(timeout=10) == APPLIED
    [kept] = refresher.clients.clients().values()

    wait_until(lambda: not refresher.clients.clients(), timeout=10, what="the idle client to be closed")

    assert not kept.connected


def test_a_refresh_after_the_bot_s_key_changed_logs_in_with_the_new_key(recorded, ada, make_refresher, pulls):
    refresher, results = make_refresher()
    refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, "Lovelace")])
    assert results.get(timeout=10) == APPLIED
    [old] = refresher.clients.clients().values()
    since = len(recorded.server.frames)

    bot = Bot.objects.get(pk=ada.bot_id)
    bot.set_apikey(NEW_KEY)
    bot.save(update_fields=["apikey_ciphertext"])
    refresher(ada.bot_id, LABEL, [change_on_userbot(recorded.url, ada, "Byron")])

    assert results.get(timeout=10) == APPLIED
    assert (logins(recorded, since=since, apikey=NEW_KEY), logins(recorded, since=since)) == (1, 0)
    assert not old.connected
    assert pulls == []


def test_a_bot_s_refreshes_run_one_at_a_time_and_what_came_meanwhile_goes_as_one_batch():
    calls: list[tuple[int, list[Any]]] = []
    first_started, release = threading.Event(), threading.Event()

    def refresh(bot_id: int, label: str, events: list[Any], *, client_of: Any) -> None:
        calls.append((bot_id, events))
        if events == ["first"]:
            first_started.set()
            release.wait(10)

    refresher = Refresher(refresh, lambda bot_id: None, threads=2)
    refresher(1, LABEL, ["first"])
    assert first_started.wait(10)

    refresher(1, LABEL, ["second"])
    refresher(1, LABEL, ["third"])
    refresher(2, LABEL, ["another bot's"])
    # The free thread takes the other bot's batch, not the first bot's next one.
    wait_until(lambda: len(calls) == 2, timeout=10, what="the other bot's refresh")
    release.set()
    refresher.close()

    assert calls == [(1, ["first"]), (2, ["another bot's"]), (1, ["second", "third"])]
