"""Payload validation against the protocol's AsyncAPI document (``asyncapi.yaml``).

The document is the single source of truth: every request, response and event payload is
checked against the schema it gives. Each schema is dereferenced into a self-contained
JSON Schema (Draft 7) and compiled once with fastjsonschema for the yes/no that every
request pays for; only a payload that fails is walked again with jsonschema to name every
bad field in ``PayloadInvalid.fields``.

A list answer (``{"total", "chatusers": [...]}``) is checked in two steps, so that one bad
object does not cost the others: ``check_envelope`` (an object whose list is an array; a
failure is the whole answer's) and ``check_items`` (each object against the list's item
schema: the valid ones go on, the others come back as ``Rejected``, naming their fields).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import fastjsonschema
import jsonschema
import yaml

from backoffice.userbot.errors import PayloadInvalid, UnknownChannel
from backoffice.userbot.schema_errors import fields_at, fields_of_fast, located, summary

DOCUMENT_PATH = Path(__file__).with_name("asyncapi.yaml")
EVENTS_CHANNEL = "events"
_DRAFT = "http://json-schema.org/draft-07/schema#"
# ECMA-262's ``$`` (what JSON Schema patterns mean) matches only at the very end; Python's
# also matches before a final newline, which would let "+391234\n" pass as a phone.
_END_ANCHOR = re.compile(r"(?<!\\)\$$")

Kind = Literal["request", "response", "event"]
_DIRECTION: dict[str, str] = {"request": "publish", "response": "subscribe"}


@functools.cache
def document() -> dict[str, Any]:
    """The parsed AsyncAPI document; its ``$ref``s point inside it (``#/components/...``)."""
    with DOCUMENT_PATH.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


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
def _payload_schema(kind: Kind, name: str) -> dict[str, Any] | None:
    message = _event_message(name) if kind == "event" else _message(name, kind)
    payload = message.get("payload")
    if payload is None or payload == {"type": "null"}:
        return None
    return {"$schema": _DRAFT, **payload}


def request_schema(operation: str) -> dict[str, Any] | None:
    """The self-contained schema of ``operation``'s request payload; None if it takes none."""
    return copy.deepcopy(_payload_schema("request", operation))


def response_schema(operation: str) -> dict[str, Any]:
    """The self-contained schema of the payload of ``operation``'s 200 response."""
    schema = _payload_schema("response", operation)
    if schema is None:  # pragma: no cover - every response carries a payload
        raise UnknownChannel(f"{operation} has no response payload")
    return copy.deepcopy(schema)


def event_schema(event: str) -> dict[str, Any]:
    """The self-contained schema of an event's payload (``chat.message`` ...)."""
    schema = _payload_schema("event", event)
    if schema is None:  # pragma: no cover - every event carries a payload
        raise UnknownChannel(f"{event} has no payload")
    return copy.deepcopy(schema)


def message_schema(message: str) -> dict[str, Any]:
    """The self-contained payload schema of a message of ``components.messages`` by its key."""
    payload = dereference(document()["components"]["messages"][message]["payload"])
    return {"$schema": _DRAFT, **payload}


@dataclass(frozen=True, slots=True)
class _IntegerPlan:
    """Where a schema asks for an integer, pruned to the parts that lead to one."""

    here: bool = False
    properties: tuple[tuple[str, _IntegerPlan], ...] = ()
    items: _IntegerPlan | None = None
    tuple_items: tuple[_IntegerPlan | None, ...] = ()
    additional: _IntegerPlan | None = None
    branches: tuple[_IntegerPlan, ...] = ()


def _asks_integer(node: dict[str, Any]) -> bool:
    kinds = node.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or ())
    return "integer" in kinds and "number" not in kinds


def _integer_plan(node: Any) -> _IntegerPlan | None:
    """The integer positions of a schema node, or None when no integer is asked below it."""
    if not isinstance(node, dict):
        return None
    properties = tuple(
        (name, plan)
        for name, sub in (node.get("properties") or {}).items()
        if (plan := _integer_plan(sub)) is not None
    )
    items = node.get("items")
    tuple_items = tuple(_integer_plan(sub) for sub in items) if isinstance(items, list) else ()
    if not any(tuple_items):
        tuple_items = ()
    # A float under any branch that asks an integer is refused: no branch of the document
    # offers a number where another asks an integer.
    branches = tuple(
        plan
        for keyword in ("allOf", "anyOf", "oneOf")
        for sub in node.get(keyword) or ()
        if (plan := _integer_plan(sub)) is not None
    )
    plan = _IntegerPlan(
        here=_asks_integer(node),
        properties=properties,
        items=None if isinstance(items, list) else _integer_plan(items),
        tuple_items=tuple_items,
        additional=_integer_plan(node.get("additionalProperties")),
        branches=branches,
    )
    return None if plan == _IntegerPlan() else plan


def _whole_floats(plan: _IntegerPlan, instance: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    """Where ``instance`` holds a number written with a fraction (``2.0``) that ``plan`` asks as an integer.

    JSON Schema counts ``2.0`` as an integer; the contract does not. A fraction that is not
    whole (``2.5``) is already refused by the schema itself, so it is not named twice.
    """
    if plan.here and isinstance(instance, float) and instance.is_integer():
        yield path, "must be an integer, written without a fraction"
    if isinstance(instance, dict):
        for name, sub in plan.properties:
            if name in instance:
                yield from _whole_floats(sub, instance[name], [*path, name])
        if plan.additional is not None:
            named = {name for name, _ in plan.properties}
            for name, value in instance.items():
                if name not in named:
                    yield from _whole_floats(plan.additional, value, [*path, name])
    elif isinstance(instance, list):
        for index, value in enumerate(instance):
            sub = plan.tuple_items[index] if index < len(plan.tuple_items) else plan.items
            if sub is not None:
                yield from _whole_floats(sub, value, [*path, index])
    for branch in plan.branches:
        yield from _whole_floats(branch, instance, path)


@dataclass(frozen=True, slots=True)
class _Check:
    schema: dict[str, Any]
    is_valid: Callable[[Any], Any]
    full: jsonschema.protocols.Validator
    integers: _IntegerPlan | None


@functools.cache
def _check(kind: Kind, name: str) -> _Check | None:
    schema = _payload_schema(kind, name)
    if schema is None:
        return None
    return _compiled(schema)


def _compiled(schema: dict[str, Any]) -> _Check:
    formats: dict[str, Callable[[str], bool]] = {}
    fast_schema = _for_speed(schema, formats)
    fast = fastjsonschema.compile(fast_schema, use_default=False, use_formats=True, formats=formats)
    return _Check(schema, fast, jsonschema.Draft7Validator(schema), _integer_plan(schema))


# What fastjsonschema is given is the schema rewritten to accept exactly the same values
# faster; the schema jsonschema names bad fields with is the document's, with its messages.
# - fastjsonschema checks an ``enum`` with one comparison per value, in Python: the 184
#   languages cost more than the rest of a chat user. A long enum of strings under
#   ``type: string`` is checked as a set instead, through a custom format, which
#   fastjsonschema applies to strings only (the type keeps refusing anything else).
# - A pattern's groups capture nothing anyone reads: made non-capturing, the regular
#   expression matches the same strings in about half the time (the times of a chat user
#   are three of them).
_SET_ENUM_MIN = 8
_CAPTURING_GROUP = re.compile(r"(?<!\\)\((?!\?)")
# A "(" in a character class, or an escaped backslash before one: left as written.
_UNSURE_GROUPS = re.compile(r"\[[^\]]*\(|\\\\")


def _for_speed(node: Any, formats: dict[str, Callable[[str], bool]]) -> Any:
    if isinstance(node, list):
        return [_for_speed(item, formats) for item in node]
    if not isinstance(node, dict):
        return node
    enum = node.get("enum")
    as_set = (
        node.get("type") == "string"
        and "format" not in node
        and isinstance(enum, list)
        and len(enum) >= _SET_ENUM_MIN
        and all(isinstance(value, str) for value in enum)
    )
    copied: dict[str, Any] = {}
    for key, value in node.items():
        if as_set and key == "enum":
            continue
        if key == "pattern" and isinstance(value, str) and not _UNSURE_GROUPS.search(value):
            copied[key] = _CAPTURING_GROUP.sub("(?:", value)
        else:
            copied[key] = _for_speed(value, formats)
    if as_set:
        name = f"x-enum-{len(formats)}"
        formats[name] = frozenset(enum).__contains__
        copied["format"] = name
    return copied


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
    _run(check, payload)


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
    schema = _payload_schema("response", operation)
    node = (schema or {}).get("properties", {}).get(key)
    if not isinstance(node, dict) or node.get("type") != "array" or "items" not in node:
        raise UnknownChannel(f"{operation} answers no list {key!r}")
    return node


@functools.cache
def _envelope_check(operation: str, key: str) -> _Check:
    schema = _payload_schema("response", operation)
    assert schema is not None
    envelope = copy.deepcopy(schema)
    envelope["properties"][key] = {"type": "array"}  # the objects are checked one by one
    return _compiled(envelope)


@functools.cache
def _item_check(operation: str, key: str) -> _Check:
    return _compiled({"$schema": _DRAFT, **_list_schema(operation, key)["items"]})


def check_envelope(operation: str, payload: Any, key: str) -> None:
    """Raise PayloadInvalid unless ``payload`` is a valid answer of ``operation`` whose
    ``key`` is an array, whatever its objects are."""
    _run(_envelope_check(operation, key), payload)


@functools.cache
def _all_items_check(operation: str, key: str) -> Callable[[Any], Any]:
    return _compiled(
        {"$schema": _DRAFT, "type": "array", "items": _list_schema(operation, key)["items"]}
    ).is_valid


def check_items(operation: str, key: str, items: list[Any]) -> Checked:
    """Each object of the list ``key`` of an ``operation`` answer against the list's item schema."""
    check = _item_check(operation, key)
    if check.integers is None:
        # The list as a whole first, in one call: nearly every list is all valid, and only one
        # that is not is looked at object by object.
        try:
            _all_items_check(operation, key)(items)
        except fastjsonschema.JsonSchemaValueException:
            pass
        else:
            return Checked(list(items), [])
    fast = check.is_valid
    valid: list[Any] = []
    refused: list[Rejected] = []
    for item in items:
        try:
            fast(item)
        except fastjsonschema.JsonSchemaValueException:
            try:
                _run(check, item)
            except PayloadInvalid as exc:
                refused.append(rejected(item, exc.fields))
            continue
        if check.integers is not None and (fractions := list(_whole_floats(check.integers, item, []))):
            refused.append(rejected(item, fields_at(fractions)))
            continue
        valid.append(item)
    return Checked(valid, refused)


def check_list(operation: str, payload: Any, key: str) -> Checked:
    """``check_envelope``, then ``check_items`` of the list."""
    check_envelope(operation, payload, key)
    return check_items(operation, key, payload[key])


def _run(check: _Check, payload: Any) -> None:
    fractions = [] if check.integers is None else list(_whole_floats(check.integers, payload, []))
    try:
        check.is_valid(payload)
    except fastjsonschema.JsonSchemaValueException as fast_error:
        places = [place for error in check.full.iter_errors(payload) for place in located(error)]
        fields = fields_at([*places, *fractions]) or fields_of_fast(fast_error)
        raise PayloadInvalid(summary(fields), fields) from None
    if fractions:
        fields = fields_at(fractions)
        raise PayloadInvalid(summary(fields), fields)
