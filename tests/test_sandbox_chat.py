"""The sandbox's live chat operations: listing, reading, handing over and agents speaking."""

from __future__ import annotations

import copy

import pytest

from sandbox import chat
from sandbox.registry import Context, SandboxError
from sandbox.store import SandboxStore

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
