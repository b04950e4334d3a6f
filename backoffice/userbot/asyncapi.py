"""The protocol's AsyncAPI document (``asyncapi.yaml``), read once, and the payload schemas it gives.

Each schema comes back dereferenced into a self-contained JSON Schema (Draft 7), ready for
a validator: the request, response and event payloads of ``schema``'s checks.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any, Literal

import yaml

from backoffice.userbot.errors import UnknownChannel

DOCUMENT_PATH = Path(__file__).with_name("asyncapi.yaml")
EVENTS_CHANNEL = "events"
DRAFT = "http://json-schema.org/draft-07/schema#"
# ECMA-262's ``$`` (what JSON Schema patterns mean) matches only at the very end; Python's
# also matches before a final newline, which would let "+391234\n" pass as a phone.
_END_ANCHOR = re.compile(r"(?<!\\)\$$")

Kind = Literal["request", "response", "event"]
_DIRECTION: dict[str, str] = {"request": "publish", "response": "subscribe"}


@functools.cache
def document() -> dict[str, Any]:
    """The parsed AsyncAPI document; its ``$ref``s point inside it (``#/components/...``)."""
    with DOCUMENT_PATH.open(encoding="utf-8") as stream:
        # libyaml's loader where PyYAML was built with it: a sixth of the pure-Python
        # loader's time, paid by every process that checks a payload.
        return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loaders)


def resolve(ref: str) -> Any:
    """The node a local ``$ref`` (``#/components/schemas/ChatUser``) points at."""
    if not ref.startswith("#/"):
        raise KeyError(f"only local references are used in the document, not {ref!r}")
    node: Any = document()
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def dereference(node: Any, trail: tuple[str, ...] = ()) -> Any:
    """A deep copy of ``node`` with every ``$ref`` replaced by what it points at."""
    if isinstance(node, list):
        return [dereference(item, trail) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in trail:
            raise ValueError(f"recursive reference {ref!r} cannot be made self-contained")
        return dereference(resolve(ref), (*trail, ref))
    copied: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            copied[key] = _END_ANCHOR.sub(r"\\Z", value)
        else:
            copied[key] = dereference(value, trail)
    return copied


def _message(operation: str, kind: Kind) -> dict[str, Any]:
    channel = document()["channels"].get(operation)
    # Only operation channels say their form; ``events`` and ``error`` are answers alone.
    if channel is None or kind == "event" or "x-form" not in channel:
        raise UnknownChannel(f"the protocol has no operation {operation!r}")
    return dereference(channel[_DIRECTION[kind]]["message"])


def _event_message(event: str) -> dict[str, Any]:
    for option in document()["channels"][EVENTS_CHANNEL]["subscribe"]["message"]["oneOf"]:
        message = dereference(option)
        if message["name"] == event:
            return message
    raise UnknownChannel(f"the protocol has no event {event!r}")


@functools.cache
def payload_schema(kind: Kind, name: str) -> dict[str, Any] | None:
    """The self-contained payload schema of a request, response or event, shared (not to be
    changed by the caller); None if the message carries no payload."""
    message = _event_message(name) if kind == "event" else _message(name, kind)
    payload = message.get("payload")
    if payload is None or payload == {"type": "null"}:
        return None
    return {"$schema": DRAFT, **payload}


def request_schema(operation: str) -> dict[str, Any] | None:
    """The self-contained schema of ``operation``'s request payload; None if it takes none."""
    return copy.deepcopy(payload_schema("request", operation))


def response_schema(operation: str) -> dict[str, Any]:
    """The self-contained schema of the payload of ``operation``'s 200 response."""
    schema = payload_schema("response", operation)
    if schema is None:  # pragma: no cover - every response carries a payload
        raise UnknownChannel(f"{operation} has no response payload")
    return copy.deepcopy(schema)


def event_schema(event: str) -> dict[str, Any]:
    """The self-contained schema of an event's payload (``chat.message`` ...)."""
    schema = payload_schema("event", event)
    if schema is None:  # pragma: no cover - every event carries a payload
        raise UnknownChannel(f"{event} has no payload")
    return copy.deepcopy(schema)


def message_schema(message: str) -> dict[str, Any]:
    """The self-contained payload schema of a message of ``components.messages`` by its key."""
    payload = dereference(document()["components"]["messages"][message]["payload"])
    return {"$schema": DRAFT, **payload}
