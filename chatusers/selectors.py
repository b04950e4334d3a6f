"""Reads of the chat user domain, computed in the database.

``segment_queryset`` reproduces the segment semantics of the wire contract (section 4)
exactly, as the sandbox's ``matches`` defines them, so a local count agrees with Userbot's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    DecimalField,
    Exists,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Collate, Lower

from backoffice.userbot.models import Bot
from chatusers.models import ChatUser, ChatUserTag, Segment, SegmentFilter, Variable
from chatusers.validators import DECIMAL_NUMBER, is_decimal_number, parse_instant

SEARCH_FIELDS = ("name", "surname", "email", "phone")
NOTHING = Q(pk__in=[])


class _AsNumeric(Func):
    """CAST(value AS NUMERIC), unbounded, on PostgreSQL and SQLite alike (Django's Cast
    to DecimalField would round to its precision)."""

    template = "CAST(%(expressions)s AS NUMERIC)"
    output_field = DecimalField()


def chatuser_search(*, bot: Bot | None = None, search: str = "") -> QuerySet[ChatUser]:
    """Chat users whose name, surname, email or phone holds ``search`` in any case, newest first."""
    chatusers = ChatUser.objects.all()
    if bot is not None:
        chatusers = chatusers.filter(bot=bot)
    if not search:
        return chatusers
    if not any(space in search for space in " \t\r\n"):
        # Without whitespace no match can span two of the joined fields: the indexed column.
        return chatusers.filter(search_text__icontains=search)
    query = Q()
    for field in SEARCH_FIELDS:
        query |= Q(**{f"{field}__icontains": search})
    return chatusers.filter(query)


def segment_count(*, segment: Segment) -> int:
    """How many chat users the segment holds now."""
    return segment_queryset(bot=segment.bot, match=segment.match, filters=list(segment.filters.all())).count()


def segment_queryset(
    *, bot: Bot, match: str, filters: Sequence[SegmentFilter | Mapping[str, Any]]
) -> QuerySet[ChatUser]:
    """The bot's chat users that match ``filters``, ``all`` of them or ``any``.

    A filter is a SegmentFilter or a mapping of field, op, value, name and, for a tag,
    ``tag_id``. ``all`` of no filters is every chat user; ``any`` of none is no one.
    """
    return ChatUser.objects.filter(bot=bot).filter(segment_condition(match=match, filters=filters))


def segment_condition(*, match: str, filters: Sequence[SegmentFilter | Mapping[str, Any]]) -> Q:
    """The condition on ChatUser that the filters make, to narrow any chat user queryset."""
    conditions = [_condition(_as_mapping(flt)) for flt in filters]
    if not conditions:
        return Q() if match == "all" else NOTHING
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = (combined | condition) if match == "any" else (combined & condition)
    return combined


def _as_mapping(flt: SegmentFilter | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(flt, SegmentFilter):
        return {"field": flt.field, "op": flt.op, "value": flt.value, "name": flt.name, "tag_id": flt.tag_id}
    return flt


def _condition(flt: Mapping[str, Any]) -> Q:
    field, op = flt.get("field"), flt.get("op")
    value = flt.get("value") or ""
    if field == "tag":
        return _tag_condition(op, flt.get("tag_id"))
    if field == "variable":
        return _variable_condition(str(flt.get("name") or ""), op, value)
    if field in ("channel", "language", "email"):
        return _text_condition(field, op, value)
    if field in ("created_at", "last_seen_at"):
        return _time_condition(field, op, value)
    return NOTHING


def _tag_condition(op: Any, tag_id: int | None) -> Q:
    carried = ChatUserTag.objects.filter(chatuser=OuterRef("pk"))
    if op in ("exists", "not_exists"):
        return Q(Exists(carried)) if op == "exists" else ~Q(Exists(carried))
    if op == "eq":
        return Q(Exists(carried.filter(tag_id=tag_id))) if tag_id else NOTHING
    if op == "neq":
        return ~Q(Exists(carried.filter(tag_id=tag_id))) if tag_id else Q()
    return NOTHING


def _text_equals(field: str, value: str) -> Q:
    # A null reads as empty text, so "equals nothing" holds for null and "" alike.
    if value == "":
        return Q(**{f"{field}__isnull": True}) | Q(**{field: ""})
    return Q(**{f"{field}__iexact": value})


def _text_condition(field: str, op: Any, value: str) -> Q:
    if op == "eq":
        return _text_equals(field, value)
    if op == "neq":
        return ~_text_equals(field, value)
    if op == "contains":
        return Q(**{f"{field}__icontains": value}) if value else Q()
    if op == "exists":
        return ~_text_equals(field, "")
    if op == "not_exists":
        return _text_equals(field, "")
    return NOTHING


def _lowered(expression: str) -> Any:
    """The lower-cased text, compared by code point as Python compares strings
    (PostgreSQL's default collation would order by language rules instead)."""
    lowered = Lower(expression)
    return Collate(lowered, "C") if connection.vendor == "postgresql" else lowered


def _variable_condition(name: str, op: Any, value: str) -> Q:
    held = Variable.objects.filter(chatuser=OuterRef("pk"), name=name)
    if op == "exists":
        return Q(Exists(held))
    if op == "not_exists":
        return ~Q(Exists(held))
    if op == "eq":
        return Q(Exists(held.filter(_text_equals("value", value))))
    if op == "neq":
        # Without the variable a chat user matches neq, which ~Exists gives.
        return ~Q(Exists(held.filter(_text_equals("value", value))))
    if op == "contains":
        return Q(Exists(held.filter(value__icontains=value) if value else held))
    if op not in ("gt", "lt"):
        return NOTHING
    lookup = "gt" if op == "gt" else "lt"
    held = held.annotate(text=_lowered("value"))
    as_text = Q(**{f"text__{lookup}": value.lower()})
    if not is_decimal_number(value):
        return Q(Exists(held.filter(as_text)))
    # The CASE keeps the cast away from non-numbers, whatever order the planner picks.
    number = Case(When(value__regex=DECIMAL_NUMBER, then=_AsNumeric("value")), default=None)
    held = held.annotate(number=number)
    # Both sides cast, so SQLite compares numbers with numbers (a bare parameter is text).
    numeric = Q(value__regex=DECIMAL_NUMBER) & Q(**{f"number__{lookup}": _AsNumeric(Value(value))})
    return Q(Exists(held.filter(numeric | (~Q(value__regex=DECIMAL_NUMBER) & as_text))))


def _time_condition(field: str, op: Any, value: str) -> Q:
    if op == "exists":
        return Q(**{f"{field}__isnull": False})
    if op == "not_exists":
        return Q(**{f"{field}__isnull": True})
    moment = parse_instant(value)
    if op not in ("gt", "lt") or moment is None:
        return NOTHING
    return Q(**{f"{field}__{op}": moment})
