"""One attempt at a request, and what became of it, for acts a person answers for.

``say`` and ``meetings.schedule`` are not safe to repeat, and an operator's act is kept with
its outcome: the services that send them make exactly one attempt here and keep what it
says. Userbot refused it (nothing changed), it was never sent (nothing changed), its answer
was lost (it may have taken effect: a person decides), or it was done, with an answer that
the AsyncAPI document accepts or not (Userbot said 200, so it was done either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backoffice.userbot import schema
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request
from backoffice.userbot.errors import PayloadInvalid, TransportError, UserbotError

LOST = "The connection dropped before Userbot answered."


@dataclass(frozen=True)
class Attempt:
    """``done``: Userbot answered 200. ``refused``: it answered an error (nothing changed).
    ``lost``: sent, and no answer came. ``answer``: the 200 answer as it came; ``valid``:
    whether it may be used. ``problem``: what went wrong, in words ("" when nothing did)."""

    done: bool
    refused: bool = False
    lost: bool = False
    answer: Any = None
    valid: bool = False
    problem: str = ""


def call_once(client: UserbotClient, request: Request) -> Attempt:
    """Send ``request`` once (a 429, which changes nothing, is still waited out by the client)."""
    try:
        answer = client.call(request)
    except UserbotError as exc:
        return refused(exc)
    except TransportError as exc:
        if exc.maybe_applied:
            return Attempt(done=False, lost=True, problem=LOST)
        return not_sent(exc)
    try:
        schema.validate_response(request.operation, answer)
    except PayloadInvalid as exc:
        return Attempt(done=True, answer=answer, problem=f"Done, but Userbot's answer was not valid: {exc}")
    return Attempt(done=True, answer=answer, valid=True)


def not_sent(exc: TransportError) -> Attempt:
    """No connection: the request never reached Userbot."""
    return Attempt(done=False, problem=f"Not sent: there is no connection to Userbot ({exc}).")


def refused(exc: UserbotError) -> Attempt:
    """Userbot's error answer as an attempt that changed nothing."""
    return Attempt(done=False, refused=True, problem=f"Userbot refused it: {in_words(exc)}")


def in_words(exc: UserbotError) -> str:
    """Userbot's refusal as an operator reads it: its message, and each field it names."""
    fields = "; ".join(f"{name}: {problem}" for name, problem in exc.fields.items())
    return f"{exc.message} ({fields})" if fields else exc.message
