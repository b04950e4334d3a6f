"""An answer of the sandbox to one request, and how its 200 and error frames are written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from sandbox.store import BotState


@dataclass
class Answer:
    """The response to one request and what follows it."""

    frame: bytes
    status: int = 200
    bot: BotState | None = None
    events: list[tuple[str, str, Any]] = field(default_factory=list)


def error(channel: str, status: int, code: str, message: str, **extra: Any) -> Answer:
    """An error answer; each of ``extra`` (``fields``, ``retry_after``) goes in only when given."""
    details: dict[str, Any] = {"code": code, "message": message}
    details.update({k: v for k, v in extra.items() if v})
    return Answer(orjson.dumps({"channel": channel, "status": status, "error": details}), status)


def ok(channel: str, payload: Any) -> bytes:
    """The frame of a 200 answer carrying ``payload``."""
    return orjson.dumps({"channel": channel, "status": 200, "payload": payload})
