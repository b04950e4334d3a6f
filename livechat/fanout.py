"""How live chat news reaches browsers: one channel-layer group per bot, ``bot.<id>.chats``.

What goes through it is a shortcut: a page that missed a message reads the chat again
(``resync``), so nothing here is the only copy of anything.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def group_of(bot_id: int) -> str:
    return f"bot.{bot_id}.chats"


def news(bot_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """A channel-layer message carrying ``body`` to every consumer watching the bot."""
    return {"type": "chat.news", "body": {**body, "bot": bot_id}}


def chat_changed(bot_id: int, session_id: str, *, chat: dict[str, Any] | None = None) -> None:
    """Tell the pages watching ``bot_id`` that an operator acted in a chat: a chat page reads
    it again; an inbox takes ``chat`` (the chat as Userbot answered, named) when given.

    From synchronous code (a view): the act is already kept, so a failure to tell is logged
    and the pages learn it at their next read."""
    body: dict[str, Any] = {"type": "changed", "session_id": session_id}
    if chat is not None:
        body["chat"] = chat
    try:
        async_to_sync(get_channel_layer().group_send)(group_of(bot_id), news(bot_id, body))
    except Exception:  # a channel layer that is down must not undo an act Userbot took
        logger.exception("Could not tell the pages of bot %s that chat %s changed", bot_id, session_id)
