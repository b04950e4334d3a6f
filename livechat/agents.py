"""As whom an operator speaks to Userbot in a chat: their own Userbot user, or the bot's.

An operator who stored their own Userbot key takes over and replies as their own Userbot
user (``who``), so ``chat-assign-to-agent`` names them. Without one, the bot's key is used,
every operator is the same agent to Userbot, and who did what is known from the chat
actions kept here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from backoffice.accounts.selectors import operator_apikey
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.connections import client_for
from backoffice.userbot.models import Bot


@dataclass(frozen=True)
class Agent:
    """A connected client of the bot and the Userbot user it runs as."""

    client: UserbotClient
    agent_id: str
    own_key: bool


@contextmanager
def agent_for(bot: Bot, operator: Any) -> Iterator[Agent]:
    """A connection to ``bot`` as ``operator``'s own Userbot user if they have a key, else as
    the bot's; closed on leaving. Raises ConnectFailed (or a refused login) at once."""
    apikey = operator_apikey(user=operator)
    client = client_for(bot, apikey=apikey)
    try:
        handshake = client.connect()
        yield Agent(client=client, agent_id=str(handshake.who["id"]), own_key=apikey is not None)
    finally:
        client.close()
