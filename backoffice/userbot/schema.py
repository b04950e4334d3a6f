"""Payload validation against the protocol's AsyncAPI document (``asyncapi.yaml``).

The document is the single source of truth: every request, response and event payload is
checked against the schema it gives (``asyncapi``), compiled once (``schema_check``) for the
yes/no that every request pays for; only a payload that fails is walked again to name every
bad field in ``PayloadInvalid.fields``.

A list answer (``{"total", "chatusers": [...]}``) is checked in two steps, so that one bad
object does not cost the others: ``check_envelope`` (an object whose list is an array; a
failure is the whole answer's) and ``check_items`` (each object against the list's item
schema: the valid ones go on, the others come back as ``Rejected``, naming their fields).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastjsonschema
import jsonschema_rs

from backoffice.userbot.asyncapi import DRAFT, Kind, payload_schema
from backoffice.userbot.errors import PayloadInvalid, UnknownChannel
from backoffice.userbot.schema_check import Check, compile_check
from backoffice.userbot.schema_errors import fields_at


@functools.cache
def _check(kind: Kind, name: str) -> Check | None:
    schema = payload_schema(kind, name)
    if schema is None:
        return None
    return compile_check(schema)


def validate_request(operation: str, payload: Any) -> None:
    """Raise PayloadInvalid, naming every bad field, unless ``payload`` suits ``operation``."""
    _validate("request", operation, payload)


def validate_response(operation: str, payload: Any) -> None:
    """Raise PayloadInvalid unless ``payload`` is a valid 200 payload of ``operation``."""
    _validate("response", operation, payload)


def validate_event(event: str, payload: Any) -> None:
    """Raise PayloadInvalid unless ``payload`` is a valid payload of ``event``."""
    _validate("event", event, payload)


def _validate(kind: Kind, name: str, payload: Any) -> None:
    check = _check(kind, name)
    if check is None:
        if payload is not None:
            raise PayloadInvalid(f"{name} takes no payload", {"payload": "must be absent"})
        return
    if payload is None and kind == "request":
        raise PayloadInvalid(f"{name} needs a payload", {"payload": "required"})
    check.enforce(payload)


# --- list answers: the envelope, then each object on its own ------------------------------


@dataclass(frozen=True, slots=True)
class Rejected:
    """An object of a list answer that is not valid: its id, when it has one that can name
    an object (a non-empty string of at most 64 characters), and each bad field and why."""

    id: str | None
    fields: dict[str, str]

    @property
    def reason(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in self.fields.items())


@dataclass(frozen=True, slots=True)
class Checked:
    """The valid objects of a list, in order, and the rejected ones."""

    items: list[Any]
    rejected: list[Rejected]


_ID_MAX = 64


def object_id(item: Any) -> str | None:
    """The id of an object as the wire gives it, if it has one that can name an object."""
    if isinstance(item, dict):
        value = item.get("id")
        if isinstance(value, str) and 0 < len(value) <= _ID_MAX:
            return value
    return None


def rejected(item: Any, fields: dict[str, str]) -> Rejected:
    """``item`` rejected for these fields; a fault of the object as a whole is named ``object``."""
    if "payload" in fields:
        fields = {("object" if name == "payload" else name): why for name, why in fields.items()}
    return Rejected(object_id(item), fields)


def _list_schema(operation: str, key: str) -> dict[str, Any]:
    schema = payload_schema("response", operation)
    node = (schema or {}).get("properties", {}).get(key)
    if not isinstance(node, dict) or node.get("type") != "array" or "items" not in node:
        raise UnknownChannel(f"{operation} answers no list {key!r}")
    return node


@functools.cache
def _envelope_check(operation: str, key: str) -> Check:
    schema = payload_schema("response", operation)
    assert schema is not None
    envelope = copy.deepcopy(schema)
    envelope["properties"][key] = {"type": "array"}  # the objects are checked one by one
    return compile_check(envelope)


@functools.cache
def _item_check(operation: str, key: str) -> Check:
    return compile_check({"$schema": DRAFT, **_list_schema(operation, key)["items"]})


def check_envelope(operation: str, payload: Any, key: str) -> None:
    """Raise PayloadInvalid unless ``payload`` is a valid answer of ``operation`` whose
    ``key`` is an array, whatever its objects are."""
    _envelope_check(operation, key).enforce(payload)


@functools.cache
def _all_items_valid(operation: str, key: str) -> Callable[[Any], bool]:
    """Whether every object of the list is valid, in one call of a validator in compiled code
    (jsonschema-rs, six times fastjsonschema's speed on a page of chat users): a pull reads a
    million of them, nearly every list is all valid, and only one that is not is looked at
    object by object, by the checks that name the fields."""
    items = {"$schema": DRAFT, "type": "array", "items": _list_schema(operation, key)["items"]}
    return jsonschema_rs.validator_for(ecma_patterns(items)).is_valid


def ecma_patterns(node: Any) -> Any:
    """A copy of the schema with its patterns' end anchors written ``$`` again, as ECMA-262
    (and jsonschema-rs) read it: the copy fastjsonschema compiles has Python's ``\\Z``."""
    if isinstance(node, list):
        return [ecma_patterns(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: value[:-2] + "$"
        if key == "pattern" and isinstance(value, str) and _ends_anchored(value)
        else ecma_patterns(value)
        for key, value in node.items()
    }


def _ends_anchored(pattern: str) -> bool:
    body = pattern[:-2]
    # ``\\Z`` is the anchor unless its backslash is itself escaped (an odd run before it).
    return pattern.endswith("\\Z") and (len(body) - len(body.rstrip("\\"))) % 2 == 0


def check_items(operation: str, key: str, items: list[Any]) -> Checked:
    """Each object of the list ``key`` of an ``operation`` answer against the list's item schema."""
    check = _item_check(operation, key)
    if check.integers is None:
        # The list as a whole first, in one call: nearly every list is all valid, and only one
        # that is not is looked at object by object.
        if _all_items_valid(operation, key)(items):
            return Checked(list(items), [])
    fast = check.is_valid
    valid: list[Any] = []
    refused: list[Rejected] = []
    for item in items:
        try:
            fast(item)
        except fastjsonschema.JsonSchemaValueException:
            try:
                check.enforce(item)
            except PayloadInvalid as exc:
                refused.append(rejected(item, exc.fields))
            continue
        if fractions := check.whole_floats(item):
            refused.append(rejected(item, fields_at(fractions)))
            continue
        valid.append(item)
    return Checked(valid, refused)


def check_list(operation: str, payload: Any, key: str) -> Checked:
    """``check_envelope``, then ``check_items`` of the list."""
    check_envelope(operation, payload, key)
    return check_items(operation, key, payload[key])
