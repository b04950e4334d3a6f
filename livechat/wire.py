"""Chats as Userbot sends them, checked before a page or a browser sees them.

Userbot is untrusted: every session and message is checked against the AsyncAPI document,
one by one, so a bad one is dropped with its reason and the rest of the list still shows.
A message's text is bounded here (the protocol bounds it only by the frame): a longer one
is cut, and says so, so one message of megabytes cannot stall an operator's page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from backoffice.userbot import schema
from backoffice.userbot.errors import PayloadInvalid

logger = logging.getLogger(__name__)

# What a page shows of one message; the rest is named, not sent to the browser.
TEXT_MAX = 20_000
# What an inbox reads at most: the newest chats by start, where the open ones are.
INBOX_MAX = 500
# What a page shows of why an event was left out: the reason may quote what Userbot sent.
REASON_MAX = 300


@dataclass
class Read:
    """What a read of chats brought: the valid objects, and why the others were dropped."""

    items: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def bounded_message(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its text cut at ``TEXT_MAX`` characters, and how much was cut."""
    text = message["text"]
    if len(text) <= TEXT_MAX:
        return {**message, "cut": 0}
    return {**message, "text": text[:TEXT_MAX], "cut": len(text) - TEXT_MAX}


def sessions_of(payload: Any) -> Read:
    """The valid sessions of a ``robin.sessions`` answer; the envelope itself must be valid."""
    checked = schema.check_list("robin.sessions", payload, "sessions")
    return Read(list(checked.items), [_named(r.id, r.reason) for r in checked.rejected])


def transcript_of(payload: Any) -> tuple[dict[str, Any], Read]:
    """The session and the valid messages of a ``robin.session`` answer, oldest first."""
    checked = schema.check_list("robin.session", payload, "messages")
    messages = [bounded_message(m) for m in checked.items]
    return payload["session"], Read(messages, [_named(r.id, r.reason) for r in checked.rejected])


def chat_event(name: str, payload: Any) -> dict[str, Any] | None:
    """A ``chat.message`` or ``chat.session`` event as the browser gets it; one that is not
    valid becomes ``dropped`` news with the reason (and a log line), so the page says so and
    reads again. Any other event is not for live chat (None)."""
    if name not in ("chat.message", "chat.session"):
        return None
    try:
        schema.validate_event(name, payload)
    except PayloadInvalid as exc:
        logger.warning("A %s event was not valid and was dropped: %s", name, exc)
        return {"type": "dropped", "event": name, "reason": str(exc)[:REASON_MAX]}
    if name == "chat.message":
        message = bounded_message(payload["message"])
        return {"type": "message", "session_id": payload["session_id"], "message": message}
    return {"type": "session", "session": payload["session"]}


def _named(object_id: str | None, reason: str) -> str:
    return f"{object_id or 'an object without a usable id'}: {reason}"
