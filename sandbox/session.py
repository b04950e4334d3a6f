"""A connection's session (who is logged in, which bot is chosen, what is subscribed) and the
four operations that change it, which the server answers itself rather than a handler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection

from backoffice.userbot.operations import SUBSCRIBE_TOPICS
from sandbox.answers import Answer, error, ok
from sandbox.store import Account, BotState, SandboxStore, iso_ms

SESSION_OPERATIONS = frozenset({"apiLogin", "sitekey", "who", "subscribe"})
TOKEN_LIFETIME_MS = 24 * 3600 * 1000


@dataclass(eq=False)
class Session:
    """One connection: who is logged in, which bot is chosen, what is subscribed."""

    connection: ServerConnection
    account: Account | None = None
    bot: BotState | None = None
    topics: set[str] = field(default_factory=set)
    counted: int = 0
    outbox: asyncio.Queue[tuple[float, Any]] = field(default_factory=asyncio.Queue)
    closing: bool = False


def session_operation(
    store: SandboxStore, session: Session, channel: str, payload: Any, now_ms: int
) -> Answer:
    """The answer to ``apiLogin``, ``sitekey``, ``who`` or ``subscribe``, whose payload the
    schema has already passed, and the change it makes to ``session``."""
    if channel == "apiLogin":
        account = store.accounts.get(payload["apikey"])
        if account is None:
            return error(channel, 401, "unauthenticated", "unknown API key")
        session.account, session.bot = account, None
        return Answer(
            ok(
                channel,
                {
                    "user_id": account.user_id,
                    "token_expires_at": iso_ms(now_ms + TOKEN_LIFETIME_MS),
                },
            )
        )
    if channel == "sitekey":
        bot = store.bots.get(payload["sitekey"])
        if bot is None:
            return error(channel, 403, "forbidden", "this account holds no bot with that sitekey")
        session.bot = bot
        return Answer(ok(channel, {"sitekey": bot.sitekey, "bot_name": bot.name}))
    if channel == "who":
        account = session.account
        assert account is not None
        return Answer(
            ok(
                channel,
                {
                    "id": account.user_id,
                    "name": account.name,
                    "email": account.email,
                    "role": account.role,
                },
            )
        )
    topic = payload["topic"]
    if topic not in SUBSCRIBE_TOPICS:
        return error(
            channel,
            400,
            "invalid",
            f"topic must be one of {', '.join(SUBSCRIBE_TOPICS)}",
            fields={"topic": f"one of {', '.join(SUBSCRIBE_TOPICS)}"},
        )
    session.topics.add(topic)
    return Answer(ok(channel, {"subscribed": topic}))
