"""How the sandbox finds the handler of a bot-scoped operation.

A handler is ``handler(ctx, payload) -> response payload``; it raises ``SandboxError`` to
answer with an error status. The server owns login, bot choice and subscriptions, and
calls handlers only after the contract's checks (size, channel, login, bot, schema).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backoffice.userbot.sandbox.store import Account, BotState, SandboxStore

Handler = Callable[["Context", Any], Any]
HANDLERS: dict[str, Handler] = {}


class SandboxError(Exception):
    """An error answer: 400 ``invalid`` with ``fields``, 404 ``not_found``, and so on."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})


def invalid(message: str, fields: dict[str, str] | None = None) -> SandboxError:
    return SandboxError(400, "invalid", message, fields)


def not_found(message: str) -> SandboxError:
    return SandboxError(404, "not_found", message)


@dataclass
class Context:
    """What a handler may touch while it answers one request."""

    store: SandboxStore
    account: Account
    bot: BotState  # the connection's chosen bot (None only for bot.stats)
    now_ms: int
    # (topic, event, payload) to send to subscribers of the bot after the response.
    events: list[tuple[str, str, Any]] = field(default_factory=list)
    _stamp: int | None = None

    def stamp(self) -> int:
        """The one ``updated_at`` (ms) shared by every change this request makes.

        Later than every time the bot has handed out before, so each changed object moves
        forward even when the clock has not (wire contract, section 4).
        """
        if self._stamp is None:
            self._stamp = max(self.now_ms, self.bot.last_stamp_ms + 1)
            self.bot.last_stamp_ms = self._stamp
        return self._stamp

    def emit(self, topic: str, event: str, payload: Any) -> None:
        self.events.append((topic, event, payload))


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"two sandbox handlers for {name}")
        HANDLERS[name] = handler
        return handler

    return register
