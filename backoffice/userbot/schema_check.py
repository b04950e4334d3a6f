"""One JSON Schema compiled for checking payloads: fastjsonschema's yes/no on a copy rewritten
for speed, jsonschema to name every bad field of a payload that fails, and the contract's rule
that an integer is written without a fraction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastjsonschema
import jsonschema

from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.schema_errors import fields_at, fields_of_fast, located, summary

Place = tuple[list[Any], str]


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


def _whole_floats(plan: _IntegerPlan, instance: Any, path: list[Any]) -> Iterator[Place]:
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
class Check:
    """A schema compiled once: ``is_valid`` raises fastjsonschema's error on a bad payload,
    ``full`` names its bad fields, ``integers`` says where an integer is asked (None: nowhere)."""

    schema: dict[str, Any]
    is_valid: Callable[[Any], Any]
    full: jsonschema.protocols.Validator
    integers: _IntegerPlan | None

    def whole_floats(self, payload: Any) -> list[Place]:
        """Where ``payload`` holds a whole number written with a fraction that the schema asks
        as an integer, and why."""
        return [] if self.integers is None else list(_whole_floats(self.integers, payload, []))

    def enforce(self, payload: Any) -> None:
        """Raise PayloadInvalid, naming every bad field, unless ``payload`` suits the schema."""
        fractions = self.whole_floats(payload)
        try:
            self.is_valid(payload)
        except fastjsonschema.JsonSchemaValueException as fast_error:
            places = [place for error in self.full.iter_errors(payload) for place in located(error)]
            fields = fields_at([*places, *fractions]) or fields_of_fast(fast_error)
            raise PayloadInvalid(summary(fields), fields) from None
        if fractions:
            fields = fields_at(fractions)
            raise PayloadInvalid(summary(fields), fields)


def compile_check(schema: dict[str, Any]) -> Check:
    """``schema`` (self-contained, Draft 7) compiled for checking payloads."""
    formats: dict[str, Callable[[str], bool]] = {}
    fast_schema = _for_speed(schema, formats)
    fast = fastjsonschema.compile(fast_schema, use_default=False, use_formats=True, formats=formats)
    return Check(schema, fast, jsonschema.Draft7Validator(schema), _integer_plan(schema))


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
