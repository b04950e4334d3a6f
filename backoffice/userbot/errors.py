"""Typed errors of the Userbot protocol.

``UserbotError`` and its subclasses are answers the server gave (a status other than 200).
``TransportError`` and its subclasses are about the connection: the request may or may not
have reached the server, which ``maybe_applied`` says. No message here ever holds a frame,
and the client masks its API key in every message it builds from what a server said (a
server may echo the key), so the key never leaks through an exception.
"""

from __future__ import annotations

from typing import Any


class ProtocolError(Exception):
    """A frame that breaks the wire contract (either direction)."""


class UnknownChannel(ProtocolError):
    """A request frame from which no known operation can be read."""


class PayloadInvalid(ProtocolError):
    """A request payload that is not valid JSON or not valid for its operation."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})


class UserbotError(Exception):
    """The server answered with a status other than 200."""

    status: int = 0

    def __init__(
        self,
        *,
        channel: str,
        status: int,
        code: str,
        message: str,
        fields: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{channel}: {status} {code}: {message}")
        self.channel = channel
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.retry_after = retry_after


class Invalid(UserbotError):
    status = 400


class Unauthenticated(UserbotError):
    status = 401


class Forbidden(UserbotError):
    status = 403


class NotFound(UserbotError):
    status = 404


class TooLarge(UserbotError):
    status = 413


class RateLimited(UserbotError):
    status = 429


class ServerError(UserbotError):
    status = 500


_BY_STATUS: dict[int, type[UserbotError]] = {
    cls.status: cls
    for cls in (Invalid, Unauthenticated, Forbidden, NotFound, TooLarge, RateLimited, ServerError)
}


def error_for_status(status: int) -> type[UserbotError]:
    return _BY_STATUS.get(status, ServerError if status >= 500 else UserbotError)


class TransportError(Exception):
    """The connection failed around a request."""

    maybe_applied: bool = True


class ConnectFailed(TransportError):
    """No connection (or no handshake) could be made; nothing was sent."""

    maybe_applied = False


class NotSent(TransportError):
    """The request never left this process; it did not take effect."""

    maybe_applied = False


class ConnectionLost(TransportError):
    """The request was sent but its answer never came: it may or may not have taken effect."""

    maybe_applied = True


class RequestTimeout(ConnectionLost):
    """No answer within the request's timeout; the connection is dropped to keep order."""


class FrameTooLarge(ConnectionLost, ProtocolError):
    """The server sent a frame, or a message in fragments, over the client's limit.

    It is refused from the length its header declares, before the payload is read, and the
    connection is dropped: the request waiting for it may or may not have been applied.
    """
