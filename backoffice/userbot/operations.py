"""Every operation of Userbot's socket protocol, as the wire contract defines it.

An operation is named by its response channel. Seven are sent in command form (words in
the frame); every other is sent in JSON form (channel name, a space, a JSON value).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Literal

Form = Literal["command", "json"]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    form: Form
    takes_payload: bool
    bot_scoped: bool
    # Safe to send again when the answer to an earlier try was lost (wire contract, 5).
    safe_to_repeat: bool


def _command(name: str, *, bot_scoped: bool, safe: bool = True) -> Operation:
    return Operation(name, "command", True, bot_scoped, safe)


def _json(name: str, *, payload: bool = True, bot_scoped: bool = True, safe: bool = True) -> Operation:
    return Operation(name, "json", payload, bot_scoped, safe)


_ALL = [
    _command("apiLogin", bot_scoped=False),
    _command("sitekey", bot_scoped=False),
    Operation("who", "command", False, False, True),
    _command("subscribe", bot_scoped=True),
    _command("robin.sessions", bot_scoped=True),
    _command("robin.session", bot_scoped=True),
    _command("say", bot_scoped=True, safe=False),
    _json("bot.get-vars", payload=False),
    _json("bot.stats", bot_scoped=False),
    _json("chatusers.get"),
    # Creates are safe to repeat only when every item carries a client_ref; see
    # ``is_safe_to_repeat``.
    _json("chatusers.create"),
    _json("chatusers.delete"),
    _json("chatusers.insights"),
    _json("chatusers.import"),
    _json("chatusers.get-feedback"),
    _json("chatusers.create-segment"),
    _json("chatusers.edit-segment"),
    _json("chatusers.remove-segment"),
    _json("chatusers.get-bot-segments", payload=False),
    _json("chatusers.get-bot-tags", payload=False),
    _json("chatusers.add-tag"),
    _json("chatusers.remove-tag"),
    _json("chatusers.get-vars"),
    _json("chatusers.set-variable"),
    _json("chatusers.remove-variable"),
    _json("chat-assign-to-agent"),
    _json("chat-assign-to-bot"),
    _json("qeafilter.search.page-db-ai"),
    _json("qeafilter.save"),
    _json("qeafilter.save.token"),
    _json("qeafilter.delete"),
    _json("automated-messages.get", payload=False),
    _json("automated-messages.save"),
    _json("automated-messages.delete"),
    _json("rawstats.count-nps"),
    _json("rawstats.all"),
    _json("rawstats.count-messages"),
    _json("rawstats.count-sessions"),
    _json("rawstats.get"),
    _json("intel.leadlist", payload=False),
    _json("intel.visitdetails"),
    _json("intel.keypeople"),
    _json("intel.addtag"),
    _json("intel.removetag"),
    _json("meetings.schedule", safe=False),
    _json("meetings.decline"),
]

OPERATIONS: dict[str, Operation] = {op.name: op for op in _ALL}
SUBSCRIBE_TOPICS = ("chat", "chatusers")
EVENTS = ("chat.message", "chat.session", "chatusers.changed")

# Creates that are idempotent only through client_ref.
_CREATES_BY_CLIENT_REF = {"chatusers.create-segment", "qeafilter.save"}


def is_safe_to_repeat(operation: str, payload: object) -> bool:
    """Whether a request whose answer was lost may be sent again without a second effect."""
    op = OPERATIONS[operation]
    if not op.safe_to_repeat:
        return False
    if operation == "chatusers.create":
        return isinstance(payload, list) and all(
            isinstance(item, dict) and item.get("client_ref") for item in payload
        )
    if operation in _CREATES_BY_CLIENT_REF:
        return isinstance(payload, dict) and bool(payload.get("client_ref"))
    if operation == "automated-messages.save":
        return isinstance(payload, dict) and bool(payload.get("id") or payload.get("client_ref"))
    if operation == "chatusers.import":
        return _import_is_keyed(payload)
    return True


def _import_is_keyed(payload: object) -> bool:
    """An import repeats safely when every row is keyed by id or client_ref."""
    if not isinstance(payload, dict) or not isinstance(payload.get("csv"), str):
        return False
    text = payload["csv"].lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return True
    keys = [i for i, col in enumerate(header) if col in ("id", "client_ref")]
    if not keys:
        return False
    for row in reader:
        if row and not any(i < len(row) and row[i] for i in keys):
            return False
    return True
