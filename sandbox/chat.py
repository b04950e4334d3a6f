"""The sandbox's live chat: listing and reading sessions, handing them over, agents speaking.

Choices the wire contract leaves open, made here:

- ``robin.sessions`` and ``robin.session`` both carry a ``<user.id>`` in the frame, and both
  refuse (403 ``forbidden``) any id but the caller's ``who`` id; the payload's own fields
  are checked first (400), as the contract orders payload checks before ids.
- A closed session can be neither handed over nor spoken in: 400 with ``fields`` naming
  ``session_id``. Closing is the visitor's act, and a handover cannot reopen it.
- A handover that changes nothing (to the agent that already holds the session, or to the
  bot when the bot holds it) answers the session and emits no event.
- ``say`` does not change who holds the session: an agent may speak into a bot session,
  as Userbot's operators do to nudge a conversation. A message of only whitespace is empty.
"""

from __future__ import annotations

from typing import Any

from sandbox.live_chat import append_message, find_open_session, find_session, hand_over
from sandbox.registry import Context, SandboxError, invalid, operation
from sandbox.store import JSONDict

MAX_LIMIT = 1000


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise invalid("the payload must be a JSON object", {"payload": "must be an object"})
    return payload


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} must be a non-empty string", {name: "required, a non-empty string"})
    return value


def _page(payload: dict[str, Any]) -> tuple[int, int]:
    """``(limit, offset)`` checked against the contract's bounds, every bad field named."""
    fields: dict[str, str] = {}
    limit, offset = payload.get("limit"), payload.get("offset")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        fields["limit"] = f"must be an integer 1..{MAX_LIMIT}"
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        fields["offset"] = "must be an integer >= 0"
    if fields:
        raise invalid("limit must be 1..1000 and offset >= 0", fields)
    return limit, offset


def _require_caller(ctx: Context, user_id: str) -> None:
    if user_id != ctx.account.user_id:
        raise SandboxError(403, "forbidden", "the user id in the frame is not the caller's who id")


@operation("robin.sessions")
def robin_sessions(ctx: Context, payload: Any) -> JSONDict:
    """A page of the bot's sessions, newest ``started_at`` first (ties: newest id first)."""
    payload = _object(payload)
    user_id = _text(payload, "user_id")
    limit, offset = _page(payload)
    _require_caller(ctx, user_id)
    sessions = sorted(ctx.bot.sessions.values(), key=lambda s: (s["started_at"], s["id"]), reverse=True)
    return {"total": len(sessions), "sessions": sessions[offset : offset + limit]}


@operation("robin.session")
def robin_session(ctx: Context, payload: Any) -> JSONDict:
    """One session and its messages, oldest first."""
    payload = _object(payload)
    user_id = _text(payload, "user_id")
    session_id = _text(payload, "session_id")
    _require_caller(ctx, user_id)
    session = find_session(ctx.bot, session_id)
    messages = sorted(ctx.bot.messages.get(session_id, []), key=lambda m: (m["at"], m["id"]))
    return {"session": session, "messages": messages}


@operation("chat-assign-to-agent")
def chat_assign_to_agent(ctx: Context, payload: Any) -> JSONDict:
    """Hand a live session to an agent; emits ``chat.session`` when the holder changes."""
    payload = _object(payload)
    fields: dict[str, str] = {}
    for name in ("session_id", "agent_id"):
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            fields[name] = "required, a non-empty string"
    if fields:
        raise invalid("session_id and agent_id are required", fields)
    session = find_open_session(ctx.bot, payload["session_id"])
    event = hand_over(session, "agent", payload["agent_id"])
    if event is not None:
        ctx.emit(*event)
    return session


@operation("chat-assign-to-bot")
def chat_assign_to_bot(ctx: Context, payload: Any) -> JSONDict:
    """Give a live session back to the bot; emits ``chat.session`` when the holder changes."""
    payload = _object(payload)
    session = find_open_session(ctx.bot, _text(payload, "session_id"))
    event = hand_over(session, "bot", None)
    if event is not None:
        ctx.emit(*event)
    return session


@operation("say")
def say(ctx: Context, payload: Any) -> JSONDict:
    """An agent's message into a live session, emitted as ``chat.message``."""
    payload = _object(payload)
    message_text = payload.get("message")
    if not isinstance(message_text, str) or not message_text.strip():
        raise invalid("the message is empty", {"message": "required, not empty"})
    wspath = _text(payload, "wspath")
    session = find_open_session(ctx.bot, _text(payload, "session_id"))
    if session["wspath"] != wspath:
        raise invalid("the wspath is not the session's", {"wspath": "not this session's wspath"})
    message, event = append_message(ctx.store, ctx.bot, session, "agent", message_text, ctx.stamp())
    ctx.emit(*event)
    return {"message": message}
