"""What happens to a live chat, whoever makes it happen: a visitor, the bot, an agent or a test.

The operations of ``chat``, the live ``visitors`` and the test hooks of ``runner`` all change
sessions and messages through these functions, so a change looks the same and is announced
the same way whichever path made it. Each returns the events it causes as
``(topic, event, payload)``, the shape of ``Context.events``, for the caller to send.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.registry import invalid, not_found
from sandbox.store import BotState, JSONDict, SandboxStore, iso_ms

Event = tuple[str, str, Any]
# Who speaks in a chat (Message.from), and who may hold it (Session.status).
SENDERS = ("user", "bot", "agent")


def clock_ms() -> int:
    """The server's clock, in milliseconds since the epoch."""
    return int(time.time() * 1000)


def next_stamp(bot: BotState, now_ms: int | None = None) -> int:
    """A time (ms) later than every one the bot handed out: ``now_ms`` (default the clock) or 1 ms on."""
    stamp = max(clock_ms() if now_ms is None else now_ms, bot.last_stamp_ms + 1)
    bot.last_stamp_ms = stamp
    return stamp


def find_session(bot: BotState, session_id: str) -> JSONDict:
    """The bot's session ``session_id``; 404 if it has none."""
    session = bot.sessions.get(session_id)
    if session is None:
        raise not_found(f"no session {session_id}")
    return session


def find_open_session(bot: BotState, session_id: str) -> JSONDict:
    """A session that is not closed: nobody writes in or hands over a closed one (400)."""
    session = find_session(bot, session_id)
    if session["status"] == "closed":
        raise invalid("the session is closed", {"session_id": "the session is closed"})
    return session


def session_event(session: JSONDict) -> Event:
    """``chat.session`` carrying a copy of the session as it is now."""
    return ("chat", "chat.session", {"session": dict(session)})


def append_message(
    store: SandboxStore, bot: BotState, session: JSONDict, sender: str, text: str, at_ms: int
) -> tuple[JSONDict, Event]:
    """Add a message from ``sender`` at ``at_ms`` to the session; the message and its ``chat.message``."""
    if sender not in SENDERS:
        raise ValueError(f"a message is from one of {', '.join(SENDERS)}, not {sender!r}")
    message = {"id": store.new_id(), "from": sender, "text": text, "at": iso_ms(at_ms)}
    bot.messages.setdefault(session["id"], []).append(message)
    session["last_message_at"] = message["at"]
    return message, ("chat", "chat.message", {"session_id": session["id"], "message": dict(message)})


def open_session(
    store: SandboxStore,
    bot: BotState,
    chatuser: JSONDict,
    at_ms: int,
    *,
    wspath: str | None = None,
    channel: str | None = None,
) -> tuple[JSONDict, Event]:
    """A new session of ``chatuser`` held by the bot, and its ``chat.session``.

    ``wspath`` defaults to ``ws`` and the session id (one word, no dot, as ``say`` needs);
    ``channel`` to the chat user's.
    """
    sid = store.new_id()
    session = {
        "id": sid,
        "wspath": wspath or f"ws{sid}",
        "chatuser_id": chatuser["id"],
        "channel": channel or chatuser["channel"],
        "status": "bot",
        "agent_id": None,
        "started_at": iso_ms(at_ms),
        "last_message_at": iso_ms(at_ms),
    }
    bot.sessions[sid] = session
    bot.messages[sid] = []
    return session, session_event(session)


def hand_over(session: JSONDict, status: str, agent_id: str | None) -> Event | None:
    """Set who holds an open session; its ``chat.session``, or None when the holder stays."""
    if session["status"] == status and session["agent_id"] == agent_id:
        return None
    session["status"] = status
    session["agent_id"] = agent_id
    return session_event(session)


def ask_for_human(session: JSONDict) -> Event | None:
    """The visitor asks for a person: a bot session waits for an agent (``agent``, no ``agent_id``).

    A session an agent already holds or waits for stays as it is (None), and so does a closed
    one: asking cannot reopen it.
    """
    if session["status"] != "bot":
        return None
    return hand_over(session, "agent", None)


def close_session(session: JSONDict) -> Event | None:
    """The visitor leaves: the session is closed, whoever held it; None if it already was."""
    if session["status"] == "closed":
        return None
    session["status"] = "closed"
    return session_event(session)


def delete_session(bot: BotState, session_id: str) -> bool:
    """Remove a session and its messages; False if there was none.

    The contract has no event for a removed chat: a client finds it gone when it reads.
    """
    bot.messages.pop(session_id, None)
    return bot.sessions.pop(session_id, None) is not None
