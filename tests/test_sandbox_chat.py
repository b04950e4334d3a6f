"""The sandbox's live chat: the agents' operations, the live visitors, and the hooks for tests."""

from __future__ import annotations

import copy
import random

import pytest
from websockets.exceptions import ConnectionClosedError

from sandbox import chat, visitors
from sandbox.__main__ import live_visitors_every
from sandbox.demo_content import HUMAN_REQUESTS
from sandbox.registry import Context, SandboxError
from sandbox.runner import start_sandbox
from sandbox.store import BotState, SandboxStore
from tests.conftest import SITEKEY, RawWs

NOW = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z


def _session(sid: str, wspath: str, status: str, started_at: str, agent_id: str | None = None) -> dict:
    return {
        "id": sid,
        "wspath": wspath,
        "chatuser_id": "u1",
        "channel": "webchat",
        "status": status,
        "agent_id": agent_id,
        "started_at": started_at,
        "last_message_at": started_at,
    }


def _context(now_ms: int = NOW) -> Context:
    store = SandboxStore()
    account = store.add_account("key")
    bot = store.add_bot("shop")
    bot.sessions["s1"] = _session("s1", "wsone", "bot", "2026-11-24T09:00:00.000Z")
    bot.sessions["s2"] = _session("s2", "wstwo", "agent", "2026-11-24T09:10:00.000Z", "agent-7")
    bot.sessions["s3"] = _session("s3", "wsthree", "closed", "2026-11-23T08:00:00.000Z")
    bot.messages["s1"] = [
        {"id": "m2", "from": "bot", "text": "Hello!", "at": "2026-11-24T09:00:05.000Z"},
        {"id": "m1", "from": "user", "text": "Hi", "at": "2026-11-24T09:00:01.000Z"},
    ]
    return Context(store=store, account=account, bot=bot, now_ms=now_ms)


def _again(ctx: Context, now_ms: int = NOW) -> Context:
    """A later request on the same store and bot."""
    return Context(store=ctx.store, account=ctx.account, bot=ctx.bot, now_ms=now_ms)


def _error(call, ctx: Context, payload: dict) -> SandboxError:
    before = (copy.deepcopy(ctx.bot.sessions), copy.deepcopy(ctx.bot.messages), ctx.store.next_id)
    with pytest.raises(SandboxError) as caught:
        call(ctx, payload)
    assert (ctx.bot.sessions, ctx.bot.messages, ctx.store.next_id) == before
    assert ctx.events == []
    return caught.value


def test_robin_sessions_lists_newest_started_first_with_limit_and_offset():
    ctx = _context()
    me = ctx.account.user_id

    everything = chat.robin_sessions(ctx, {"user_id": me, "limit": 10, "offset": 0})
    page = chat.robin_sessions(ctx, {"user_id": me, "limit": 1, "offset": 1})

    assert everything["total"] == 3
    assert [s["id"] for s in everything["sessions"]] == ["s2", "s1", "s3"]
    newest = _session("s2", "wstwo", "agent", "2026-11-24T09:10:00.000Z", "agent-7")
    assert everything["sessions"][0] == newest
    assert page == {"total": 3, "sessions": [ctx.bot.sessions["s1"]]}


def test_robin_sessions_refuses_a_user_id_that_is_not_the_callers():
    ctx = _context()

    error = _error(chat.robin_sessions, ctx, {"user_id": "someone-else", "limit": 10, "offset": 0})

    assert (error.status, error.code) == (403, "forbidden")


def test_robin_sessions_checks_limit_and_offset_before_the_user_id():
    ctx = _context()

    error = _error(chat.robin_sessions, ctx, {"user_id": "someone-else", "limit": 0, "offset": -1})

    assert (error.status, error.code) == (400, "invalid")
    assert set(error.fields) == {"limit", "offset"}
    assert _error(chat.robin_sessions, ctx, {"user_id": "x", "limit": 1001, "offset": 0}).fields == {
        "limit": "must be an integer 1..1000"
    }


def test_robin_session_answers_the_session_and_its_messages_oldest_first():
    ctx = _context()

    answer = chat.robin_session(ctx, {"user_id": ctx.account.user_id, "session_id": "s1"})

    assert answer == {
        "session": _session("s1", "wsone", "bot", "2026-11-24T09:00:00.000Z"),
        "messages": [
            {"id": "m1", "from": "user", "text": "Hi", "at": "2026-11-24T09:00:01.000Z"},
            {"id": "m2", "from": "bot", "text": "Hello!", "at": "2026-11-24T09:00:05.000Z"},
        ],
    }
    assert chat.robin_session(ctx, {"user_id": ctx.account.user_id, "session_id": "s2"})["messages"] == []


def test_robin_session_is_404_for_an_unknown_session_and_403_for_another_user():
    ctx = _context()

    missing = _error(chat.robin_session, ctx, {"user_id": ctx.account.user_id, "session_id": "nope"})
    other = _error(chat.robin_session, ctx, {"user_id": "someone-else", "session_id": "s1"})

    assert (missing.status, missing.code) == (404, "not_found")
    assert (other.status, other.code) == (403, "forbidden")


def test_assign_to_agent_hands_the_session_over_and_emits_it():
    ctx = _context()

    answer = chat.chat_assign_to_agent(ctx, {"session_id": "s1", "agent_id": "agent-9"})

    expected = _session("s1", "wsone", "agent", "2026-11-24T09:00:00.000Z", "agent-9")
    assert answer == expected
    assert ctx.bot.sessions["s1"] == expected
    assert ctx.events == [("chat", "chat.session", {"session": expected})]


def test_assign_to_bot_clears_the_agent_and_emits_the_session():
    ctx = _context()

    answer = chat.chat_assign_to_bot(ctx, {"session_id": "s2"})

    expected = _session("s2", "wstwo", "bot", "2026-11-24T09:10:00.000Z")
    assert answer == expected
    assert ctx.events == [("chat", "chat.session", {"session": expected})]


def test_a_handover_to_the_current_holder_changes_nothing_and_emits_nothing():
    ctx = _context()

    to_agent = chat.chat_assign_to_agent(ctx, {"session_id": "s2", "agent_id": "agent-7"})
    to_bot = chat.chat_assign_to_bot(ctx, {"session_id": "s1"})

    assert to_agent["status"] == "agent"
    assert to_bot["status"] == "bot"
    assert ctx.events == []


def test_a_closed_session_cannot_be_handed_over():
    ctx = _context()

    to_agent = _error(chat.chat_assign_to_agent, ctx, {"session_id": "s3", "agent_id": "agent-1"})
    to_bot = _error(chat.chat_assign_to_bot, ctx, {"session_id": "s3"})

    assert (to_agent.status, to_agent.fields) == (400, {"session_id": "the session is closed"})
    assert (to_bot.status, to_bot.fields) == (400, {"session_id": "the session is closed"})


def test_a_handover_needs_its_fields_and_a_known_session():
    ctx = _context()

    missing = _error(chat.chat_assign_to_agent, ctx, {"session_id": "s1"})
    unknown = _error(chat.chat_assign_to_agent, ctx, {"session_id": "nope", "agent_id": "a"})
    unknown_bot = _error(chat.chat_assign_to_bot, ctx, {"session_id": "nope"})

    assert (missing.status, missing.fields) == (400, {"agent_id": "required, a non-empty string"})
    assert (unknown.status, unknown_bot.status) == (404, 404)


def test_say_appends_an_agent_message_moves_the_session_and_emits_it():
    ctx = _context()

    text = "Hi. I am Anna. How can I help?"
    answer = chat.say(ctx, {"wspath": "wsone", "session_id": "s1", "message": text})

    message = {
        "id": "000000000000000000000002",
        "from": "agent",
        "text": "Hi. I am Anna. How can I help?",
        "at": "2026-11-24T09:30:00.000Z",
    }
    assert answer == {"message": message}
    assert ctx.bot.messages["s1"][-1] == message
    assert ctx.bot.sessions["s1"]["last_message_at"] == "2026-11-24T09:30:00.000Z"
    assert ctx.bot.sessions["s1"]["status"] == "bot"
    assert ctx.events == [("chat", "chat.message", {"session_id": "s1", "message": message})]


def test_say_in_a_session_without_messages_starts_its_history():
    ctx = _context()

    chat.say(ctx, {"wspath": "wstwo", "session_id": "s2", "message": "On it"})

    assert [m["text"] for m in ctx.bot.messages["s2"]] == ["On it"]


def test_two_says_in_one_millisecond_get_increasing_times():
    ctx = _context()

    first = chat.say(ctx, {"wspath": "wsone", "session_id": "s1", "message": "one"})["message"]
    second = chat.say(_again(ctx), {"wspath": "wsone", "session_id": "s1", "message": "two"})["message"]

    assert (first["at"], second["at"]) == ("2026-11-24T09:30:00.000Z", "2026-11-24T09:30:00.001Z")
    assert ctx.bot.sessions["s1"]["last_message_at"] == "2026-11-24T09:30:00.001Z"


def test_say_refuses_an_empty_message_a_closed_session_and_a_wrong_wspath():
    ctx = _context()

    empty = _error(chat.say, ctx, {"wspath": "wsone", "session_id": "s1", "message": "  "})
    closed = _error(chat.say, ctx, {"wspath": "wsthree", "session_id": "s3", "message": "hello"})
    wrong = _error(chat.say, ctx, {"wspath": "wstwo", "session_id": "s1", "message": "hello"})

    assert (empty.status, empty.fields) == (400, {"message": "required, not empty"})
    assert (closed.status, closed.fields) == (400, {"session_id": "the session is closed"})
    assert (wrong.status, wrong.fields) == (400, {"wspath": "not this session's wspath"})


def test_say_is_404_for_an_unknown_session_but_400_first_for_an_empty_message():
    ctx = _context()

    unknown = _error(chat.say, ctx, {"wspath": "wsone", "session_id": "nope", "message": "hello"})
    empty = _error(chat.say, ctx, {"wspath": "wsone", "session_id": "nope", "message": ""})

    assert (unknown.status, unknown.code) == (404, "not_found")
    assert (empty.status, empty.code) == (400, "invalid")


def test_chat_over_the_wire(sandbox, open_ws):
    bot = sandbox.store.bots["test-bot"]
    bot.sessions["s1"] = _session("s1", "wsone", "bot", "2026-11-24T09:00:00.000Z")
    bot.sessions["s2"] = _session("s2", "wstwo", "closed", "2026-11-23T09:00:00.000Z")
    ws, listener = open_ws(), open_ws()
    me = ws.call("who")["payload"]["id"]
    assert listener.call("subscribe chat")["payload"] == {"subscribed": "chat"}

    listed = ws.call(f"robin sv {me} get sessions 10 0")
    said = ws.call("say.wsone.-100.s1.Hello. Dots. Stay.")
    handed = ws.request("chat-assign-to-agent", {"session_id": "s1", "agent_id": me})
    read = ws.call(f"robin sv {me} get s1")
    forbidden = ws.call("robin sv 42 get sessions 10 0")

    assert (listed["channel"], listed["status"]) == ("robin.sessions", 200)
    assert [s["id"] for s in listed["payload"]["sessions"]] == ["s1", "s2"]
    assert (said["channel"], said["payload"]["message"]["text"]) == ("say", "Hello. Dots. Stay.")
    assert handed["payload"]["status"] == "agent"
    assert read["payload"]["messages"] == [said["payload"]["message"]]
    assert (forbidden["status"], forbidden["error"]["code"]) == (403, "forbidden")
    assert listener.recv() == {
        "event": "chat.message",
        "payload": {"session_id": "s1", "message": said["payload"]["message"]},
    }
    assert listener.recv() == {"event": "chat.session", "payload": {"session": handed["payload"]}}


# --- visitors: the live ones, and the acts a test asks of one ---------------------------------


def _visited_store() -> tuple[SandboxStore, BotState]:
    """A bot with one chat held by the bot and no chat users, so a visitor step opens no other."""
    store = SandboxStore()
    store.add_account("key")
    bot = store.add_bot("shop")
    bot.sessions["s1"] = _session("s1", "wsone", "bot", "2026-11-24T09:00:00.000Z")
    bot.messages["s1"] = []
    return store, bot


def test_a_visitor_in_a_bot_session_asks_for_a_person_and_the_session_waits_for_an_agent():
    store, bot = _visited_store()

    events = visitors.visitor_step(store, random.Random(0), now_ms=NOW)

    message = {
        "id": "000000000000000000000002",
        "from": "user",
        "text": "Can an agent call me back about my order?",
        "at": "2026-11-24T09:30:00.000Z",
    }
    waiting = {
        **_session("s1", "wsone", "agent", "2026-11-24T09:00:00.000Z"),
        "last_message_at": "2026-11-24T09:30:00.000Z",
    }
    assert events == [
        ("shop", "chat.message", {"session_id": "s1", "message": message}),
        ("shop", "chat.session", {"session": waiting}),
    ]
    assert bot.messages["s1"] == [message]
    assert bot.sessions["s1"] == waiting
    assert message["text"] in HUMAN_REQUESTS


def test_a_visitor_who_does_not_ask_for_a_person_gets_a_bot_reply_and_the_bot_keeps_the_chat():
    store, bot = _visited_store()

    events = visitors.visitor_step(store, random.Random(1), now_ms=NOW)

    assert [(event, payload["message"]["from"]) for _, event, payload in events] == [
        ("chat.message", "user"),
        ("chat.message", "bot"),
    ]
    assert [m["at"] for m in bot.messages["s1"]] == ["2026-11-24T09:30:00.000Z", "2026-11-24T09:30:00.001Z"]
    assert bot.sessions["s1"]["status"] == "bot"
    assert bot.messages["s1"][0]["text"] not in HUMAN_REQUESTS


def test_visitors_ask_for_a_person_in_about_one_bot_message_in_eight():
    store, bot = _visited_store()
    rng = random.Random(8)
    asked = 0

    for step in range(800):
        events = visitors.visitor_step(store, rng, now_ms=NOW + step * 10)
        if any(event == "chat.session" for _, event, _ in events):
            asked += 1
            assert [payload["message"]["from"] for _, e, payload in events if e == "chat.message"] == ["user"]
            bot.sessions["s1"].update(status="bot", agent_id=None)  # the agent gives it back

    assert asked == 101  # of 800, where one in eight is 100
    assert len(bot.messages["s1"]) == 2 * 800 - 101


def test_a_visitor_waiting_for_an_agent_keeps_writing_and_the_bot_stays_silent():
    store, bot = _visited_store()
    bot.sessions["s1"].update(status="agent", agent_id=None)

    events = [event for step in range(20) for event in visitors.visitor_step(store, random.Random(step), NOW)]

    assert {event for _, event, _ in events} == {"chat.message"}
    assert {payload["message"]["from"] for _, _, payload in events} == {"user"}
    assert len(bot.messages["s1"]) == 20
    assert (bot.sessions["s1"]["status"], bot.sessions["s1"]["agent_id"]) == ("agent", None)


def test_open_chat_without_chat_users_creates_one_as_chatusers_create_would():
    store, bot = _visited_store()

    session, events = visitors.open_chat(store, "shop", now_ms=NOW)

    user = bot.chatusers["000000000000000000000002"]
    assert (user["channel"], user["name"], user["created_at"]) == ("webchat", "", "2026-11-24T09:30:00.000Z")
    assert session == {
        "id": "000000000000000000000003",
        "wspath": "ws000000000000000000000003",
        "chatuser_id": "000000000000000000000002",
        "channel": "webchat",
        "status": "bot",
        "agent_id": None,
        "started_at": "2026-11-24T09:30:00.001Z",
        "last_message_at": "2026-11-24T09:30:00.001Z",
    }
    assert events == [
        (
            "chatusers",
            "chatusers.changed",
            {"op": "created", "id": user["id"], "updated_at": "2026-11-24T09:30:00.000Z"},
        ),
        ("chat", "chat.session", {"session": session}),
    ]
    assert (bot.sessions[session["id"]], bot.messages[session["id"]]) == (session, [])


def test_every_path_refuses_what_the_protocol_would():
    store, bot = _visited_store()
    bot.sessions["s3"] = _session("s3", "wsthree", "closed", "2026-11-23T08:00:00.000Z")
    before = (copy.deepcopy(bot.sessions), copy.deepcopy(bot.messages), store.next_id)
    refusals = {
        "unknown bot": lambda: visitors.open_chat(store, "nope"),
        "unknown chat user": lambda: visitors.open_chat(store, "shop", chatuser_id="nope"),
        "unknown channel": lambda: visitors.open_chat(store, "shop", channel="fax"),
        "unknown session": lambda: visitors.visitor_says(store, "shop", "nope", "hi"),
        "empty message": lambda: visitors.visitor_says(store, "shop", "s1", " "),
        "closed, writing": lambda: visitors.visitor_says(store, "shop", "s3", "hi"),
        "closed, asking": lambda: visitors.ask_for_human(store, "shop", "s3"),
        "closing unknown": lambda: visitors.close_chat(store, "shop", "nope"),
        "deleting unknown": lambda: visitors.delete_chat(store, "shop", "nope"),
    }
    statuses = {}

    for name, act in refusals.items():
        with pytest.raises(SandboxError) as caught:
            act()
        statuses[name] = caught.value.status

    assert statuses == {
        "unknown bot": 404,
        "unknown chat user": 404,
        "unknown channel": 400,
        "unknown session": 404,
        "empty message": 400,
        "closed, writing": 400,
        "closed, asking": 400,
        "closing unknown": 404,
        "deleting unknown": 404,
    }
    assert (bot.sessions, bot.messages, store.next_id) == before


def _listener(open_ws, *topics: str) -> RawWs:
    ws = open_ws()
    for topic in topics:
        assert ws.call(f"subscribe {topic}")["payload"] == {"subscribed": topic}
    return ws


def test_open_chat_hook_opens_a_session_for_a_new_chat_user_and_emits_both(sandbox, open_ws):
    listener, ws = _listener(open_ws, "chat", "chatusers"), open_ws()

    session = sandbox.open_chat(SITEKEY)

    users = ws.ok("chatusers.get", {"offset": 0, "limit": 10})["chatusers"]
    assert [(u["id"], u["channel"]) for u in users] == [(session["chatuser_id"], "webchat")]
    assert session == {
        "id": session["id"],
        "wspath": f"ws{session['id']}",
        "chatuser_id": users[0]["id"],
        "channel": "webchat",
        "status": "bot",
        "agent_id": None,
        "started_at": session["started_at"],
        "last_message_at": session["started_at"],
    }
    assert users[0]["created_at"] < session["started_at"]
    assert listener.recv() == {
        "event": "chatusers.changed",
        "payload": {"op": "created", "id": users[0]["id"], "updated_at": users[0]["updated_at"]},
    }
    assert listener.recv() == {"event": "chat.session", "payload": {"session": session}}


def test_open_chat_hook_takes_the_newest_chat_user_or_the_one_named(sandbox, open_ws):
    ws = open_ws()
    first, newest = ws.ok("chatusers.create", [{"name": "Ada", "channel": "whatsapp"}, {"name": "Bo"}])[
        "chatusers"
    ]
    listener = _listener(open_ws, "chat", "chatusers")

    by_default = sandbox.open_chat(SITEKEY)
    named = sandbox.open_chat(SITEKEY, chatuser_id=first["id"], channel="telegram")

    assert (by_default["chatuser_id"], by_default["channel"]) == (newest["id"], "api")
    assert (named["chatuser_id"], named["channel"]) == (first["id"], "telegram")
    assert ws.ok("chatusers.get", {"offset": 0, "limit": 10})["total"] == 2
    assert [listener.recv() for _ in range(2)] == [
        {"event": "chat.session", "payload": {"session": by_default}},
        {"event": "chat.session", "payload": {"session": named}},
    ]


def test_visitor_says_hook_adds_a_user_message_that_reads_back_and_is_emitted(sandbox, open_ws):
    session = sandbox.open_chat(SITEKEY)
    listener, ws = _listener(open_ws, "chat"), open_ws()
    me = ws.call("who")["payload"]["id"]

    message = sandbox.visitor_says(SITEKEY, session["id"], "Where is my parcel?")

    assert message == {
        "id": message["id"],
        "from": "user",
        "text": "Where is my parcel?",
        "at": message["at"],
    }
    assert message["at"] > session["started_at"]
    assert listener.recv() == {
        "event": "chat.message",
        "payload": {"session_id": session["id"], "message": message},
    }
    read = ws.call(f"robin sv {me} get {session['id']}")["payload"]
    assert read == {"session": {**session, "last_message_at": message["at"]}, "messages": [message]}


def test_ask_for_human_hook_leaves_the_session_waiting_for_an_agent(sandbox, open_ws):
    session = sandbox.open_chat(SITEKEY)
    listener, ws = _listener(open_ws, "chat"), open_ws()

    waiting = sandbox.ask_for_human(SITEKEY, session["id"])
    again = sandbox.ask_for_human(SITEKEY, session["id"])
    taken = ws.ok("chat-assign-to-agent", {"session_id": session["id"], "agent_id": "agent-7"})
    still_taken = sandbox.ask_for_human(SITEKEY, session["id"])

    assert waiting == {**session, "status": "agent", "agent_id": None}
    assert again == waiting
    assert still_taken == taken == {**session, "status": "agent", "agent_id": "agent-7"}
    assert [listener.recv() for _ in range(2)] == [
        {"event": "chat.session", "payload": {"session": waiting}},
        {"event": "chat.session", "payload": {"session": taken}},
    ]
    assert _nothing_more(listener)


def test_close_chat_hook_closes_the_session_and_emits_it_once(sandbox, open_ws):
    session = sandbox.open_chat(SITEKEY)
    listener, ws = _listener(open_ws, "chat"), open_ws()

    closed = sandbox.close_chat(SITEKEY, session["id"])
    again = sandbox.close_chat(SITEKEY, session["id"])
    said = ws.call(f"say.{session['wspath']}.-100.{session['id']}.Hello?")

    assert closed == again == {**session, "status": "closed"}
    assert (said["status"], said["error"]["fields"]) == (400, {"session_id": "the session is closed"})
    assert listener.recv() == {"event": "chat.session", "payload": {"session": closed}}
    assert _nothing_more(listener)


def test_delete_chat_hook_removes_the_session_and_its_messages(sandbox, open_ws):
    kept, gone = sandbox.open_chat(SITEKEY), sandbox.open_chat(SITEKEY)
    sandbox.visitor_says(SITEKEY, gone["id"], "Bye")
    ws = open_ws()
    me = ws.call("who")["payload"]["id"]

    assert sandbox.delete_chat(SITEKEY, gone["id"]) is None

    read = ws.call(f"robin sv {me} get {gone['id']}")
    listed = ws.call(f"robin sv {me} get sessions 10 0")["payload"]
    assert (read["status"], read["error"]["code"]) == (404, "not_found")
    assert listed == {"total": 1, "sessions": [kept]}
    assert gone["id"] not in sandbox.store.bots[SITEKEY].messages
    with pytest.raises(SandboxError) as caught:
        sandbox.delete_chat(SITEKEY, gone["id"])
    assert caught.value.status == 404


def test_drop_connections_aborts_every_connection_and_the_server_keeps_serving(sandbox, open_ws):
    first, second = open_ws(), open_ws()

    dropped = sandbox.drop_connections()

    assert dropped == 2
    for ws in (first, second):
        with pytest.raises(ConnectionClosedError) as caught:
            ws.recv()
        assert caught.value.rcvd is None  # no close frame: the network went away
    assert open_ws().call("who")["status"] == 200


def test_live_visitors_write_only_when_asked(open_ws):
    with start_sandbox(seed_demo=True, visitors_every=0.01) as handle:
        listener = _listener(lambda: open_ws(url=handle.url), "chat")
        event = listener.recv()
    with start_sandbox(seed_demo=True) as quiet:
        assert quiet.server.visitors_every == 0.0

    assert event["event"] in ("chat.message", "chat.session")


def test_the_command_line_runs_visitors_with_the_demo_unless_told_otherwise():
    assert live_visitors_every(None, seed_demo=True) == visitors.DEFAULT_EVERY_S == 2.0
    assert live_visitors_every(None, seed_demo=False) == 0.0
    assert live_visitors_every(0.0, seed_demo=True) == 0.0
    assert live_visitors_every(0.5, seed_demo=False) == 0.5
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="--visitors-every"):
            live_visitors_every(bad, seed_demo=True)


def _nothing_more(ws: RawWs) -> bool:
    """No event is waiting: a ``who`` sent now is answered before any other frame arrives."""
    return ws.call("who")["channel"] == "who" and ws.events == []
