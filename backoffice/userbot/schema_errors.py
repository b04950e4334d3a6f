"""How a payload that fails the contract is described: each bad field, and why, in words.

``jsonschema`` finds every error of a payload; this turns them into one message per field
of the payload (``{"email": "does not match the email pattern"}``), which the client's
errors, the sync's skipped-object lists and the admin show as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import fastjsonschema
import jsonschema

_MAX_NAMED_FIELDS = 10


def summary(fields: dict[str, str]) -> str:
    names = list(fields)
    shown = ", ".join(names[:_MAX_NAMED_FIELDS])
    if len(names) > _MAX_NAMED_FIELDS:
        shown += f" and {len(names) - _MAX_NAMED_FIELDS} more"
    return f"{len(names)} invalid field{'s' if len(names) != 1 else ''}: {shown}"


def _field_order(key: str) -> tuple[bool, int, str]:
    return (not key.isdigit(), int(key) if key.isdigit() else 0, key)


def fields_at(places: Iterable[tuple[list[Any], str]]) -> dict[str, str]:
    messages: dict[str, list[str]] = {}
    for path, text in places:
        key = str(path[0]) if path else "payload"
        rest = _dotted(path[1:])
        message = f"{rest}: {text}" if rest else text
        if message not in messages.setdefault(key, []):
            messages[key].append(message)
    return {key: "; ".join(messages[key]) for key in sorted(messages, key=_field_order)}


def fields_of_fast(error: fastjsonschema.JsonSchemaValueException) -> dict[str, str]:
    # Only reached if the two validators ever disagree: still name the field fastjsonschema saw.
    path = list(error.path or [])[1:]
    key = str(path[0]) if path else "payload"
    return {key: error.message.removeprefix(error.name or "").strip() or "invalid"}


def _dotted(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def located(error: jsonschema.ValidationError) -> list[tuple[list[Any], str]]:
    """Where an error is, as a path inside the payload, and a short human message."""
    path = list(error.absolute_path)
    instance = error.instance
    match error.validator:
        case "required":
            # jsonschema reports each missing property apart but does not say which one.
            missing = [name for name in error.validator_value if name not in instance]
            return [([*path, name], "required") for name in missing]
        case "additionalProperties":
            known = error.schema.get("properties", {})
            extra = [name for name in instance if name not in known]
            return [([*path, name], "unknown property") for name in extra]
    return [(path, _text(error))]


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _text(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.validator_value
    if "x-error" in schema:
        return str(schema["x-error"])
    match error.validator:
        case "type":
            kinds = [value] if isinstance(value, str) else list(value)
            return "must be " + " or ".join(_TYPE_NAMES.get(kind, kind) for kind in kinds)
        case "enum":
            if len(value) <= 8:
                return "must be one of: " + ", ".join(json.dumps(option) for option in value)
            return f"is not a valid {schema.get('title', 'value')}"
        case "const":
            return f"must be {json.dumps(value)}"
        case "pattern":
            title = schema.get("title")
            return f"does not match the {title} pattern" if title else f"does not match {value}"
        case "minLength":
            return "must not be empty" if value == 1 else f"must have at least {value} characters"
        case "maxLength":
            return f"must have at most {value} characters"
        case "minimum":
            return f"must be at least {value}"
        case "maximum":
            return f"must be at most {value}"
        case "minItems":
            return "must not be empty" if value == 1 else f"must have at least {value} items"
        case "maxItems":
            return f"must have at most {value} items"
        case "not" | None:
            return "not allowed"
        case "oneOf" | "anyOf":
            return "does not match any allowed form"
    return error.message
