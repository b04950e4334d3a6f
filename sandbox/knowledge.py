"""The sandbox's knowledge base (qeafilter interactions) and automated messages.

Choices the wire contract leaves open, made here:

- Lists are in creation order (ids increase with creation). ``label`` filters by exact,
  case-sensitive equality; ``query`` is a case-insensitive substring of question, answer
  or label.
- ``qeafilter.save`` only creates: a payload with an ``id`` is 400 (``qeafilter.save.token``
  updates). A label is non-empty and holds no ``<`` or ``>``, so it always fits a token.
- ``automated-messages.save`` with an ``id`` cannot change ``client_ref`` (400 when it
  differs). Answers and conditions are stored with the contract's keys only: a condition
  always has ``value`` (empty for ``exists`` / ``not_exists``) and has ``name`` only on
  ``variable``. A ``tag`` condition's value with ``eq`` / ``neq`` is a tag id, 404 when it
  names no tag, as for segment filters.
- Bad fields inside arrays are named like ``conditions[0].op`` and ``answers[1].buttons``.
"""

from __future__ import annotations

import re
from typing import Any

from backoffice.userbot.iso639 import LANGUAGES
from backoffice.userbot.vocabulary import (
    ANSWER_TYPES,
    CONDITION_FIELDS,
    CONDITION_OPS,
    TRIGGERS,
    VALUELESS_OPS,
)
from sandbox.registry import Context, invalid, not_found, operation
from sandbox.store import BotState, JSONDict, iso_ms

MAX_LIMIT = 1000
_TOKEN = re.compile(r"<([^<>]+)>")


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise invalid("the payload must be a JSON object", {"payload": "must be an object"})
    return payload


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _id(payload: dict[str, Any]) -> str:
    value = payload.get("id")
    if not isinstance(value, str) or not value:
        raise invalid("id is required", {"id": "required, a non-empty string"})
    return value


def _check_client_ref(payload: dict[str, Any], fields: dict[str, str]) -> None:
    ref = payload.get("client_ref")
    if ref is not None and (not isinstance(ref, str) or not 1 <= len(ref) <= 64):
        fields["client_ref"] = "a string of 1 to 64 characters"


def _check_language(payload: dict[str, Any], fields: dict[str, str]) -> None:
    language = payload.get("language")
    if language is not None and (not isinstance(language, str) or (language and language not in LANGUAGES)):
        fields["language"] = "an ISO 639-1 code, or empty"


def _check_enabled(payload: dict[str, Any], fields: dict[str, str]) -> None:
    if payload.get("enabled") is not None and not isinstance(payload["enabled"], bool):
        fields["enabled"] = "must be true or false"


def _by_client_ref(objects: dict[str, JSONDict], ref: Any) -> JSONDict | None:
    if not ref:
        return None
    return next((obj for obj in objects.values() if obj.get("client_ref") == ref), None)


def _apply(obj: JSONDict, changes: dict[str, Any], ctx: Context) -> None:
    """Set ``changes`` on ``obj``, moving ``updated_at`` only when a value really differs."""
    changed = {name: value for name, value in changes.items() if obj.get(name) != value}
    if changed:
        obj.update(changed)
        obj["updated_at"] = iso_ms(ctx.stamp())


# --- qeafilter ----------------------------------------------------------------------------


@operation("qeafilter.search.page-db-ai")
def qeafilter_search(ctx: Context, payload: Any) -> JSONDict:
    """A page of interactions matching the optional ``query`` and ``label``."""
    payload = _object(payload)
    fields: dict[str, str] = {}
    limit, offset = payload.get("limit"), payload.get("offset")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        fields["limit"] = f"must be an integer 1..{MAX_LIMIT}"
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        fields["offset"] = "must be an integer >= 0"
    query, label = payload.get("query"), payload.get("label")
    if query is not None and not isinstance(query, str):
        fields["query"] = "must be a string"
    if label is not None and not isinstance(label, str):
        fields["label"] = "must be a string"
    if fields:
        raise invalid("bad search", fields)
    needle = (query or "").lower()
    found = [
        item
        for item in ctx.bot.interactions.values()
        if (label is None or item["label"] == label)
        and (
            not needle
            or needle in item["question"].lower()
            or needle in item["answer"].lower()
            or needle in item["label"].lower()
        )
    ]
    return {"total": len(found), "interactions": found[offset : offset + limit]}


@operation("qeafilter.save")
def qeafilter_save(ctx: Context, payload: Any) -> JSONDict:
    """Create an interaction, or return the one already holding ``client_ref`` unchanged."""
    payload = _object(payload)
    fields: dict[str, str] = {}
    if payload.get("id") is not None:
        fields["id"] = "qeafilter.save creates; update with qeafilter.save.token"
    label = payload.get("label")
    if not _is_text(label) or "<" in label or ">" in label:
        fields["label"] = "required, a non-empty string without < or >"
    for name in ("question", "answer"):
        if not _is_text(payload.get(name)):
            fields[name] = "required, a non-empty string"
    _check_language(payload, fields)
    _check_enabled(payload, fields)
    _check_client_ref(payload, fields)
    if fields:
        raise invalid("invalid interaction", fields)
    existing = _by_client_ref(ctx.bot.interactions, payload.get("client_ref"))
    if existing is not None:
        return existing
    interaction = {
        "id": ctx.store.new_id(),
        "client_ref": payload.get("client_ref"),
        "label": label,
        "question": payload["question"],
        "answer": payload["answer"],
        "language": payload.get("language") or "",
        "enabled": True if payload.get("enabled") is None else payload["enabled"],
        "updated_at": iso_ms(ctx.stamp()),
    }
    ctx.bot.interactions[interaction["id"]] = interaction
    return interaction


@operation("qeafilter.save.token")
def qeafilter_save_token(ctx: Context, payload: Any) -> JSONDict:
    """Update an interaction: its label from ``token`` (``<label>``) and any fields given."""
    payload = _object(payload)
    fields: dict[str, str] = {}
    interaction_id = payload.get("id")
    if not isinstance(interaction_id, str) or not interaction_id:
        fields["id"] = "required, a non-empty string"
    token = payload.get("token")
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None or not match.group(1).strip():
        fields["token"] = "required, the label between < and >"  # noqa: S105 (a label, not a secret)
    for name in ("question", "answer"):
        if payload.get(name) is not None and not _is_text(payload[name]):
            fields[name] = "a non-empty string"
    _check_language(payload, fields)
    _check_enabled(payload, fields)
    if fields:
        raise invalid("invalid interaction update", fields)
    interaction = ctx.bot.interactions.get(interaction_id)
    if interaction is None:
        raise not_found(f"no interaction {interaction_id}")
    changes: dict[str, Any] = {"label": match.group(1)}
    for name in ("question", "answer", "language", "enabled"):
        if payload.get(name) is not None:
            changes[name] = payload[name]
    _apply(interaction, changes, ctx)
    return interaction


@operation("qeafilter.delete")
def qeafilter_delete(ctx: Context, payload: Any) -> JSONDict:
    """Delete an interaction, which frees its ``client_ref``."""
    interaction_id = _id(_object(payload))
    if ctx.bot.interactions.pop(interaction_id, None) is None:
        raise not_found(f"no interaction {interaction_id}")
    return {"deleted": True, "id": interaction_id}


# --- automated messages -------------------------------------------------------------------


def _conditions(value: Any, fields: dict[str, str]) -> list[JSONDict] | None:
    """The conditions as stored, or None with ``fields`` naming what is wrong."""
    if not isinstance(value, list):
        fields["conditions"] = "must be an array"
        return None
    result: list[JSONDict] = []
    for i, item in enumerate(value):
        where = f"conditions[{i}]"
        if not isinstance(item, dict):
            fields[where] = "must be an object"
            continue
        field, op = item.get("field"), item.get("op")
        if field not in CONDITION_FIELDS:
            fields[f"{where}.field"] = "one of " + ", ".join(CONDITION_FIELDS)
        if op not in CONDITION_OPS:
            fields[f"{where}.op"] = "one of " + ", ".join(CONDITION_OPS)
        text = item.get("value")
        if op in VALUELESS_OPS:
            if text is not None and not isinstance(text, str):
                fields[f"{where}.value"] = "must be a string"
        elif not isinstance(text, str) or not text:
            fields[f"{where}.value"] = "required, a non-empty string"
        name = item.get("name")
        if field == "variable":
            if not _is_text(name):
                fields[f"{where}.name"] = "required with variable"
        elif name is not None:
            fields[f"{where}.name"] = "only with variable"
        condition = {"field": field, "op": op, "value": text or ""}
        if field == "variable":
            condition["name"] = name
        result.append(condition)
    return None if any(key.startswith("conditions") for key in fields) else result


def _answers(value: Any, fields: dict[str, str]) -> list[JSONDict] | None:
    """The answers as stored, or None with ``fields`` naming what is wrong."""
    if not isinstance(value, list):
        fields["answers"] = "must be an array"
        return None
    result: list[JSONDict] = []
    for i, item in enumerate(value):
        where = f"answers[{i}]"
        if not isinstance(item, dict) or item.get("type") not in ANSWER_TYPES:
            fields[f"{where}.type"] = "one of " + ", ".join(ANSWER_TYPES)
            continue
        kind = item["type"]
        if kind == "image":
            if not _is_text(item.get("url")):
                fields[f"{where}.url"] = "required with image"
            result.append({"type": "image", "url": item.get("url")})
            continue
        if not _is_text(item.get("text")):
            fields[f"{where}.text"] = f"required with {kind}"
        if kind == "text":
            result.append({"type": "text", "text": item.get("text")})
            continue
        buttons = item.get("buttons")
        good = (
            isinstance(buttons, list)
            and bool(buttons)
            and all(
                isinstance(b, dict) and _is_text(b.get("label")) and isinstance(b.get("value"), str)
                for b in buttons
            )
        )
        if not good:
            fields[f"{where}.buttons"] = "a non-empty array of {label, value}"
            continue
        result.append(
            {
                "type": "buttons",
                "text": item.get("text"),
                "buttons": [{"label": b["label"], "value": b["value"]} for b in buttons],
            }
        )
    return None if any(key.startswith("answers") for key in fields) else result


def _message_fields(payload: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """The automated message fields the payload gives, validated into their stored form."""
    given: dict[str, Any] = {}
    if "name" in payload:
        if _is_text(payload["name"]):
            given["name"] = payload["name"]
        else:
            fields["name"] = "a non-empty string"
    if "trigger" in payload:
        if payload["trigger"] in TRIGGERS:
            given["trigger"] = payload["trigger"]
        else:
            fields["trigger"] = "one of " + ", ".join(TRIGGERS)
    if "enabled" in payload:
        if isinstance(payload["enabled"], bool):
            given["enabled"] = payload["enabled"]
        else:
            fields["enabled"] = "must be true or false"
    if "delay_seconds" in payload:
        delay = payload["delay_seconds"]
        if isinstance(delay, int) and not isinstance(delay, bool) and delay >= 0:
            given["delay_seconds"] = delay
        else:
            fields["delay_seconds"] = "an integer >= 0"
    if "conditions" in payload:
        conditions = _conditions(payload["conditions"], fields)
        if conditions is not None:
            given["conditions"] = conditions
    if "answers" in payload:
        answers = _answers(payload["answers"], fields)
        if answers is not None:
            given["answers"] = answers
    return given


def _check_condition_tags(bot: BotState, conditions: list[JSONDict]) -> None:
    for condition in conditions:
        names_a_tag = condition["field"] == "tag" and condition["op"] in ("eq", "neq")
        if names_a_tag and condition["value"] not in bot.tags:
            raise not_found(f"no tag {condition['value']}")


@operation("automated-messages.get")
def automated_messages_get(ctx: Context, payload: Any) -> JSONDict:
    """Every automated message of the bot, in creation order."""
    return {"automated_messages": list(ctx.bot.automated_messages.values())}


@operation("automated-messages.save")
def automated_messages_save(ctx: Context, payload: Any) -> JSONDict:
    """Create an automated message (no ``id``), or update the fields given (with ``id``)."""
    payload = _object(payload)
    fields: dict[str, str] = {}
    message_id = payload.get("id")
    if message_id is not None and (not isinstance(message_id, str) or not message_id):
        fields["id"] = "a non-empty string"
    _check_client_ref(payload, fields)
    given = _message_fields(payload, fields)
    if message_id is None:
        for name in ("name", "trigger"):
            if payload.get(name) is None:
                fields[name] = "required"
    if fields:
        raise invalid("invalid automated message", fields)
    if message_id is not None:
        message = ctx.bot.automated_messages.get(message_id)
        ref = payload.get("client_ref")
        # A changed client_ref is a bad payload, so it answers before any unknown id (404).
        if message is not None and ref is not None and ref != message["client_ref"]:
            raise invalid("client_ref cannot be changed", {"client_ref": "cannot be changed"})
        _check_condition_tags(ctx.bot, given.get("conditions", []))
        if message is None:
            raise not_found(f"no automated message {message_id}")
        _apply(message, given, ctx)
        return message
    _check_condition_tags(ctx.bot, given.get("conditions", []))
    existing = _by_client_ref(ctx.bot.automated_messages, payload.get("client_ref"))
    if existing is not None:
        return existing
    message = {
        "id": ctx.store.new_id(),
        "client_ref": payload.get("client_ref"),
        "name": given["name"],
        "enabled": given.get("enabled", True),
        "trigger": given["trigger"],
        "delay_seconds": given.get("delay_seconds", 0),
        "conditions": given.get("conditions", []),
        "answers": given.get("answers", []),
        "updated_at": iso_ms(ctx.stamp()),
    }
    ctx.bot.automated_messages[message["id"]] = message
    return message


@operation("automated-messages.delete")
def automated_messages_delete(ctx: Context, payload: Any) -> JSONDict:
    """Delete an automated message, which frees its ``client_ref``."""
    message_id = _id(_object(payload))
    if ctx.bot.automated_messages.pop(message_id, None) is None:
        raise not_found(f"no automated message {message_id}")
    return {"deleted": True, "id": message_id}
