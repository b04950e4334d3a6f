"""How the sandbox finds the handler of a bot-scoped operation.

A handler is ``handler(ctx, payload) -> response payload``; it raises ``SandboxError`` to
answer with an error status. The server owns login, bot choice and subscriptions, and
calls handlers only after the contract's checks (size, channel, login, bot, schema), but for the
operations whose handlers ask for the schema's verdict themselves (``checks_own_schema``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.store import iso_ms

if TYPE_CHECKING:
    from sandbox.store import Account, BotState, SandboxStore

Handler = Callable[["Context", Any], Any]
HANDLERS: dict[str, Handler] = {}
# Operations whose handler asks for the schema's verdict itself (``Context.check_schema``),
# where it cannot tell on its own that the payload is one the schema accepts.
CHECKS_OWN_SCHEMA: set[str] = set()


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
    # The schema's verdict on the payload: raises ``PayloadInvalid`` if it refuses it. The
    # server has already asked for it, except for the operations in ``CHECKS_OWN_SCHEMA``.
    check_schema: Callable[[], None] = field(default=lambda: None, repr=False)
    _stamp: int | None = None
    _stamp_iso: str | None = None

    def stamp(self) -> int:
        """The one ``updated_at`` (ms) shared by every change this request makes.

        Later than every time the bot has handed out before, so each changed object moves
        forward even when the clock has not (wire contract, section 4).
        """
        if self._stamp is None:
            self._stamp = max(self.now_ms, self.bot.last_stamp_ms + 1)
            self.bot.last_stamp_ms = self._stamp
        return self._stamp

    def stamp_iso(self) -> str:
        """``stamp()`` as the wire writes it, formatted once for every object the request changes."""
        if self._stamp_iso is None:
            self._stamp_iso = iso_ms(self.stamp())
        return self._stamp_iso

    def emit(self, topic: str, event: str, payload: Any) -> None:
        self.events.append((topic, event, payload))


def operation(name: str, *, checks_own_schema: bool = False) -> Callable[[Handler], Handler]:
    """Register the handler of ``name``.

    With ``checks_own_schema`` the server does not check the payload against the schema
    before calling the handler; the handler must call ``ctx.check_schema()`` before it
    answers anything but a 200 and whenever it cannot tell that the schema accepts the
    payload, so that the schema's answer still comes first.
    """

    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"two sandbox handlers for {name}")
        HANDLERS[name] = handler
        if checks_own_schema:
            CHECKS_OWN_SCHEMA.add(name)
        return handler

    return register
