"""Segments: the filter semantics of wire contract section 4, and the segment operations.

``matches`` is the single definition of which chat users a segment holds; a client that
counts locally must agree with it case for case, so it is a pure function of plain dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from backoffice.userbot.vocabulary import FIELD_OPS, INSTANT_FIELDS, MATCHES, ORDERED_OPS, VALUELESS_OPS
from sandbox.registry import Context, invalid, not_found, operation
from sandbox.store import BotState, JSONDict, iso_ms

_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_instant(text: str) -> int | None:
    """Milliseconds since the epoch for a date (its 00:00 UTC) or an ISO 8601 time, else None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _text(value: Any) -> str:
    return "" if value is None else str(value).lower()


def _compare_text(op: str, actual: Any, wanted: str) -> bool:
    have, want = _text(actual), wanted.lower()
    if op == "eq":
        return have == want
    if op == "neq":
        return have != want
    if op == "contains":
        return want in have
    if op == "exists":
        return have != ""
    if op == "not_exists":
        return have == ""
    return False


def _compare_ordered(op: str, actual: str, wanted: str) -> bool:
    """gt / lt: as numbers when both sides are decimal numbers, else as case-insensitive text."""
    if _DECIMAL.fullmatch(actual) and _DECIMAL.fullmatch(wanted):
        left: Decimal | str = Decimal(actual)
        right: Decimal | str = Decimal(wanted)
    else:
        left, right = actual.lower(), wanted.lower()
    return left > right if op == "gt" else left < right  # type: ignore[operator]


def _variable_matches(chatuser: Mapping[str, Any], name: str, op: str, wanted: str) -> bool:
    for variable in chatuser.get("variables") or ():
        if variable.get("name") == name:
            value = _text(variable.get("value"))
            if op in ("gt", "lt"):
                return _compare_ordered(op, value, wanted)
            if op in VALUELESS_OPS:
                return op == "exists"
            return _compare_text(op, value, wanted)
    return op in ("neq", "not_exists")


def _time_matches(actual: Any, op: str, wanted: str) -> bool:
    if op == "exists":
        return bool(actual)
    if op == "not_exists":
        return not actual
    have, want = parse_instant(actual or ""), parse_instant(wanted)
    if have is None or want is None:
        return False
    return have > want if op == "gt" else have < want


def filter_matches(chatuser: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    """Whether one chat user (its wire dict) passes one SegmentFilter."""
    field, op = flt.get("field"), flt.get("op", "")
    wanted = flt.get("value")
    wanted = "" if wanted is None else str(wanted)
    if field == "tag":
        tags = chatuser.get("tags") or ()
        if op == "eq":
            return wanted in tags
        if op == "neq":
            return wanted not in tags
        if op == "exists":
            return len(tags) > 0
        if op == "not_exists":
            return len(tags) == 0
        return False
    if field == "variable":
        return _variable_matches(chatuser, str(flt.get("name", "")), op, wanted)
    if field in ("channel", "language", "email"):
        return _compare_text(op, chatuser.get(field), wanted)
    if field in ("created_at", "last_seen_at"):
        return _time_matches(chatuser.get(field), op, wanted)
    return False


def matches(chatuser: Mapping[str, Any], filters: Sequence[Mapping[str, Any]], match: str = "all") -> bool:
    """Whether a chat user belongs to a segment: ``all`` of no filters is everyone, ``any`` is no one."""
    if match == "any":
        return any(filter_matches(chatuser, flt) for flt in filters)
    return all(filter_matches(chatuser, flt) for flt in filters)


# --- validation ------------------------------------------------------------------------


def clean_filters(filters: Any) -> list[JSONDict]:
    """The filters as stored (``value`` always a string), or 400 naming each bad one.

    Tag ids are not looked up here: an unknown one is a 404, which comes after every 400.
    """
    if not isinstance(filters, list):
        raise invalid("filters must be an array", {"filters": "must be an array"})
    cleaned: list[JSONDict] = []
    errors: dict[str, str] = {}
    for i, flt in enumerate(filters):
        key = f"filters.{i}"
        if not isinstance(flt, dict):
            errors[key] = "must be an object"
            continue
        extra = set(flt) - {"field", "op", "value", "name"}
        field, op, value, name = flt.get("field"), flt.get("op"), flt.get("value"), flt.get("name")
        if extra:
            errors[key] = f"unknown keys: {', '.join(sorted(extra))}"
        elif field not in FIELD_OPS:
            errors[key] = f"field must be one of {', '.join(FIELD_OPS)}"
        elif op not in FIELD_OPS[field]:
            errors[key] = f"op {op!r} is not valid for field {field}"
        elif value is not None and not isinstance(value, str):
            errors[key] = "value must be a string"
        elif op not in VALUELESS_OPS and value is None:
            errors[key] = f"value is required with op {op}"
        elif field == "variable" and (not isinstance(name, str) or not name.strip()):
            errors[key] = "name is required with field variable"
        elif field != "variable" and name is not None:
            errors[key] = "name is only allowed with field variable"
        elif field in INSTANT_FIELDS and op in ORDERED_OPS and parse_instant(value) is None:
            errors[key] = "value must be a date (YYYY-MM-DD) or an ISO 8601 time"
        else:
            stored: JSONDict = {"field": field, "op": op, "value": value or ""}
            if field == "variable":
                stored["name"] = name
            cleaned.append(stored)
    if errors:
        raise invalid("invalid segment filters", errors)
    return cleaned


def check_filter_tags(bot: BotState, filters: Sequence[Mapping[str, Any]]) -> None:
    """404 when a ``tag`` filter with ``eq`` / ``neq`` names a tag the bot does not have."""
    for flt in filters:
        if flt["field"] == "tag" and flt["op"] in ("eq", "neq") and flt["value"] not in bot.tags:
            raise not_found(f"no tag has id {flt['value']}")


def segment_count(bot: BotState, segment: Mapping[str, Any]) -> int:
    """How many of the bot's chat users the segment holds now."""
    filters, match = segment["filters"], segment["match"]
    if match == "all" and not filters:
        return len(bot.chatusers)
    if match == "any" and not filters:
        return 0
    return sum(1 for user in bot.chatusers.values() if matches(user, filters, match))


def segment_view(bot: BotState, segment: JSONDict) -> JSONDict:
    """The Segment as the wire carries it, with ``count`` computed now."""
    return {**segment, "count": segment_count(bot, segment)}


def _clean_head(payload: Any, *, with_id: bool) -> tuple[str, str]:
    if not isinstance(payload, dict):
        raise invalid("payload must be an object", {"payload": "must be an object"})
    allowed = {"id", "name", "match", "filters"} if with_id else {"name", "match", "filters", "client_ref"}
    errors: dict[str, str] = {key: "unknown field" for key in payload if key not in allowed}
    name, match = payload.get("name"), payload.get("match")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "required, a non-empty string"
    if match not in MATCHES:
        errors["match"] = "must be all or any"
    if "filters" not in payload:
        errors["filters"] = "required"
    if with_id and not isinstance(payload.get("id"), str):
        errors["id"] = "required, a string"
    ref = payload.get("client_ref")
    if not with_id and ref is not None and (not isinstance(ref, str) or not 1 <= len(ref) <= 64):
        errors["client_ref"] = "must be a string of 1 to 64 characters"
    if errors:
        raise invalid("invalid segment", errors)
    return name, match


# --- operations ------------------------------------------------------------------------


@operation("chatusers.create-segment")
def create_segment(ctx: Context, payload: Any) -> JSONDict:
    """Create a segment; a known ``client_ref`` returns that segment as it is."""
    bot = ctx.bot
    name, match = _clean_head(payload, with_id=False)
    filters = clean_filters(payload["filters"])
    ref = payload.get("client_ref")
    refs = bot.chatuser_index("segment_ref")
    if ref is not None and ref in refs:
        return segment_view(bot, bot.segments[refs[ref]])
    check_filter_tags(bot, filters)
    segment = {
        "id": ctx.store.new_id(),
        "client_ref": ref,
        "name": name,
        "match": match,
        "filters": filters,
        "updated_at": iso_ms(ctx.stamp()),
    }
    bot.segments[segment["id"]] = segment
    if ref is not None:
        refs[ref] = segment["id"]
    return segment_view(bot, segment)


@operation("chatusers.edit-segment")
def edit_segment(ctx: Context, payload: Any) -> JSONDict:
    """Replace a segment's name, match and filters; ``updated_at`` moves only on a change."""
    bot = ctx.bot
    name, match = _clean_head(payload, with_id=True)
    filters = clean_filters(payload["filters"])
    segment = bot.segments.get(payload["id"])
    if segment is None:
        raise not_found(f"no segment has id {payload['id']}")
    check_filter_tags(bot, filters)
    if (segment["name"], segment["match"], segment["filters"]) != (name, match, filters):
        segment.update(name=name, match=match, filters=filters, updated_at=iso_ms(ctx.stamp()))
    return segment_view(bot, segment)


@operation("chatusers.remove-segment")
def remove_segment(ctx: Context, payload: Any) -> JSONDict:
    """Remove segments by id, skipping unknown ids and freeing their ``client_ref``."""
    bot = ctx.bot
    if not isinstance(payload, list) or not all(isinstance(sid, str) for sid in payload):
        raise invalid("payload must be an array of segment ids", {"payload": "an array of strings"})
    refs = bot.chatuser_index("segment_ref")
    removed = 0
    for sid in dict.fromkeys(payload):
        segment = bot.segments.pop(sid, None)
        if segment is None:
            continue
        removed += 1
        if segment.get("client_ref"):
            refs.pop(segment["client_ref"], None)
    return {"removed": removed}


@operation("chatusers.get-bot-segments")
def get_bot_segments(ctx: Context, payload: Any) -> JSONDict:
    """Every segment of the bot with its current count."""
    bot = ctx.bot
    return {"segments": [segment_view(bot, segment) for segment in bot.segments.values()]}


def check_segment_id(bot: BotState, segment_id: str) -> JSONDict:
    """The segment with this id, or 404."""
    segment = bot.segments.get(segment_id)
    if segment is None:
        raise not_found(f"no segment has id {segment_id}")
    return segment
