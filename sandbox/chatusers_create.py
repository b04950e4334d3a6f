"""``chatusers.create``: up to a thousand chat users a request, all or none (wire contract, 5).

This is the sandbox's hottest path (a sync engine pushes every new chat user through it),
so it checks its own payload against the protocol's schema instead of leaving that to the
generic walk the server does for other operations. Its item checks are those of the schema
plus the contract's own (tag names not only blanks, a variable name once, unique keys), so
a request they find strictly valid is one the schema accepts: the schema's verdict is asked
for only when they find a problem or are unsure, and it then answers first, exactly as when
the server asked it up front. That reasoning holds for one shape of the schema, checked once
against the schema itself; if it ever has another shape, the schema is asked every time.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from backoffice.userbot.iso639 import LANGUAGES
from backoffice.userbot.vocabulary import CHANNELS
from sandbox.chatuser_record import (
    EMAIL,
    MAX_CLIENT_REF,
    MAX_EMAIL,
    MAX_NAME,
    MAX_PAGE,
    MAX_TAG_NAME,
    PHONE,
    canonical_time_or_none,
    client_ref_problem,
    email_problem,
    ensure_tag,
    name_problem,
    phone_problem,
    tag_names,
    variable_id,
)
from sandbox.registry import Context, invalid, operation
from sandbox.store import JSONDict

FIELDS = (
    "client_ref",
    "name",
    "surname",
    "email",
    "phone",
    "channel",
    "language",
    "tags",
    "variables",
    "last_seen_at",
)
_FIELD_SET = frozenset(FIELDS)
_VARIABLE_KEYS = frozenset({"name", "value"})
_LANGUAGE_VALUES = LANGUAGES | {""}
_CHANNEL_PROBLEM = f"channel: must be one of {', '.join(CHANNELS)}"
# Keywords that describe a schema without constraining what it accepts.
_PROSE = frozenset({"description", "title", "x-error", "$schema", "examples"})

# One item as stored: client_ref, name, surname, email, phone, channel, language, tag
# names, variables, last_seen_at.
Item = tuple[Any, ...]


@functools.cache
def schema_time_pattern() -> re.Pattern[str] | None:
    """The schema's pattern of ``last_seen_at`` while the schema is the shape these checks mirror.

    None when it is not, or when there is no schema check: then no item counts as strictly
    valid and the schema (if any) is asked about every request.
    """
    try:
        from backoffice.userbot.asyncapi import request_schema
    except ImportError:
        return None
    schema = _constraints(request_schema("chatusers.create"))
    try:
        fields = schema["items"]["properties"]
        time_pattern = fields["last_seen_at"]["pattern"]
        channels, languages = fields["channel"]["enum"], fields["language"]["enum"]
    except (KeyError, TypeError):
        return None
    nullable = ["string", "null"]
    shape = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_PAGE,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "client_ref": {"type": nullable, "minLength": 1, "maxLength": MAX_CLIENT_REF},
                "name": {"type": "string", "maxLength": MAX_NAME},
                "surname": {"type": "string", "maxLength": MAX_NAME},
                "email": {"type": nullable, "maxLength": MAX_EMAIL, "pattern": f"^{EMAIL.pattern}\\Z"},
                "phone": {"type": nullable, "pattern": f"^{PHONE.pattern}\\Z"},
                "channel": {"type": "string", "enum": channels},
                "language": {"type": "string", "enum": languages},
                "tags": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_NAME},
                },
                "variables": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "value"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                            "value": {"type": "string"},
                        },
                    },
                },
                "last_seen_at": {"type": nullable, "pattern": time_pattern},
            },
        },
    }
    same_values = (
        isinstance(channels, list)
        and isinstance(languages, list)
        and sorted(channels) == sorted(CHANNELS)
        and sorted(languages) == sorted(_LANGUAGE_VALUES)
    )
    if schema != shape or not same_values or not isinstance(time_pattern, str):
        return None
    return re.compile(time_pattern)


def _constraints(node: Any) -> Any:
    """A schema with its prose left out, so that it compares equal to a shape."""
    if isinstance(node, dict):
        return {key: _constraints(value) for key, value in node.items() if key not in _PROSE}
    if isinstance(node, list):
        return [_constraints(value) for value in node]
    return node


def check_item(item: Any, time_pattern: re.Pattern[str] | None) -> tuple[Item | None, list[str], bool]:
    """One item as stored, what is wrong with it, and whether the schema certainly accepts it.

    Problems are listed in a fixed order: unknown fields, client_ref, email, phone, name,
    surname, channel, language, tags, variables, last_seen_at.
    """
    if not isinstance(item, dict):
        return None, ["must be an object"], False
    if item.keys() <= _FIELD_SET:
        problems: list[str] = []
    else:
        problems = [f"{key}: unknown field" for key in item if key not in _FIELD_SET]
    # The handler accepts a null name, surname or language (as empty) and any ISO time for
    # last_seen_at; the schema does not, so such an item is not vouched for.
    strict = time_pattern is not None
    get = item.get
    ref, email, phone = get("client_ref"), get("email"), get("phone")
    if ref is not None:
        if not isinstance(ref, str):
            problems.append("client_ref: must be a string or null")
        elif not 1 <= len(ref) <= MAX_CLIENT_REF:
            problems.append(f"client_ref: {client_ref_problem(ref)}")
    if email is not None:
        if not isinstance(email, str):
            problems.append("email: must be a string or null")
        elif len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
            problems.append(f"email: {email_problem(email)}")
    if phone is not None:
        if not isinstance(phone, str):
            problems.append("phone: must be a string or null")
        elif not PHONE.fullmatch(phone):
            problems.append(f"phone: {phone_problem(phone)}")
    name, surname = get("name", ""), get("surname", "")
    if name is None:
        name, strict = "", False
    elif not isinstance(name, str):
        problems.append("name: must be a string")
    elif len(name) > MAX_NAME:
        problems.append(f"name: {name_problem(name)}")
    if surname is None:
        surname, strict = "", False
    elif not isinstance(surname, str):
        problems.append("surname: must be a string")
    elif len(surname) > MAX_NAME:
        problems.append(f"surname: {name_problem(surname)}")
    channel, language = get("channel", "api"), get("language", "")
    if not isinstance(channel, str) or channel not in CHANNELS:
        problems.append(_CHANNEL_PROBLEM)
    if language is None:
        language, strict = "", False
    if not isinstance(language, str) or language not in _LANGUAGE_VALUES:
        problems.append("language: not an ISO 639-1 code")
    tags = get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        problems.append("tags: must be an array of tag names")
        tags = []
    elif any(len(t) > MAX_TAG_NAME for t in tags):
        problems.append(f"tags: a tag name has at most {MAX_TAG_NAME} characters")
        tags = []
    names = tag_names(tags) if tags else []
    variables = get("variables", [])
    if not isinstance(variables, list):
        problems.append("variables: must be an array of {name, value}")
        variables = []
    elif variables:
        problem = _variables_problem(variables)
        if problem:
            problems.append(problem)
    seen = get("last_seen_at")
    if seen is not None:
        if strict and not (isinstance(seen, str) and time_pattern.search(seen)):  # type: ignore[union-attr]
            strict = False
        seen = canonical_time_or_none(seen)
        if seen is None:
            problems.append("last_seen_at: must be an ISO 8601 time or null")
    fields = (ref, name, surname, email, phone, channel, language, names, variables, seen)
    return fields, problems, strict and not problems


def _variables_problem(variables: list[Any]) -> str | None:
    names: set[str] = set()
    for variable in variables:
        if (
            not isinstance(variable, dict)
            or not variable.keys() <= _VARIABLE_KEYS
            or not isinstance(variable.get("name"), str)
            or not variable["name"]
            or not isinstance(variable.get("value"), str)
        ):
            return "variables: each must be {name, value} with string values"
        name = variable["name"]
        if not name.strip():
            return "variables: a name must not be only blanks"
        if len(name) > MAX_NAME:
            return f"variables: a name {name_problem(name)}"
        if name in names:
            return f"variables: {name} is set twice"
        names.add(name)
    return None


@operation("chatusers.create", checks_own_schema=True)
def create(ctx: Context, payload: Any) -> JSONDict:
    """Create 1 to 1000 chat users, all or none; a known ``client_ref`` returns its chat user as it is."""
    bot = ctx.bot
    if not isinstance(payload, list) or not 1 <= len(payload) <= MAX_PAGE:
        ctx.check_schema()
        raise invalid(f"payload must be an array of 1 to {MAX_PAGE} chat users", {"payload": "1..1000 items"})
    refs, emails, phones = (bot.chatuser_index(key) for key in ("client_ref", "email", "phone"))
    time_pattern = schema_time_pattern()
    vouched = True
    errors: dict[str, list[str]] = {}
    cleaned: list[Item | None] = []
    existing: dict[int, str] = {}
    # Keys claimed by earlier items of this request, each to the index of its item.
    claimed_refs: dict[str, int] = {}
    claimed_emails: dict[str, int] = {}
    claimed_phones: dict[str, int] = {}
    for i, item in enumerate(payload):
        fields, problems, strict = check_item(item, time_pattern)
        cleaned.append(fields)
        vouched = vouched and strict
        if problems:
            errors[str(i)] = problems
            continue
        ref, email, phone = fields[0], fields[3], fields[4]  # type: ignore[index]
        if ref:
            held = refs.get(ref)
            if held is not None:
                existing[i] = held
                continue
            if ref in claimed_refs:
                problems.append(f"client_ref: repeats item {claimed_refs[ref]}")
            else:
                claimed_refs[ref] = i
        if email:
            email = email.lower()
            if email in emails:
                problems.append("email: already belongs to another chat user")
            elif email in claimed_emails:
                problems.append(f"email: repeats item {claimed_emails[email]}")
            else:
                claimed_emails[email] = i
        if phone:
            if phone in phones:
                problems.append("phone: already belongs to another chat user")
            elif phone in claimed_phones:
                problems.append(f"phone: repeats item {claimed_phones[phone]}")
            else:
                claimed_phones[phone] = i
        if problems:
            errors[str(i)] = problems
    if errors or not vouched:
        ctx.check_schema()  # a payload the schema refuses gets the schema's answer, as always
    if errors:
        fields_by_item = {index: "; ".join(problems) for index, problems in errors.items()}
        first = next(iter(fields_by_item.items()))
        raise invalid(f"item {first[0]}: {first[1]}", fields_by_item)
    return {"chatusers": _store(ctx, cleaned, existing)}


def _store(ctx: Context, cleaned: list[Item | None], existing: dict[int, str]) -> list[JSONDict]:
    """Create the checked items (those not in ``existing``) and answer every item in order."""
    bot = ctx.bot
    users = bot.chatusers
    refs, emails, phones = (bot.chatuser_index(key) for key in ("client_ref", "email", "phone"))
    stamp = ctx.stamp_iso() if len(existing) < len(cleaned) else ""
    new_id = ctx.store.new_id
    note_count = bot.note_chatusers_count
    tag_ids: dict[str, str] = {}  # tag name as given -> id, for this request
    variable_ids = bot.variable_ids
    events = ctx.events
    answered: list[JSONDict] = []
    new_ids: list[str] = []
    for i, fields in enumerate(cleaned):
        if existing and i in existing:
            answered.append(users[existing[i]])
            continue
        ref, name, surname, email, phone, channel, language, names, variables, seen = fields  # type: ignore[misc]
        # Ids are drawn in this order: the chat user, then its new tags, then its new variables.
        cid = new_id()
        tags = []
        for tag_name in names:
            tid = tag_ids.get(tag_name)
            if tid is None:
                tid = tag_ids[tag_name] = ensure_tag(ctx, tag_name)
            tags.append(tid)
        user_variables = []
        for variable in variables:
            variable_name = variable["name"]
            vid = variable_ids.get(variable_name)
            if vid is None:
                vid = variable_id(ctx, variable_name)
            user_variables.append({"id": vid, "name": variable_name, "value": variable["value"]})
        user: JSONDict = {
            "id": cid,
            "client_ref": ref,
            "name": name,
            "surname": surname,
            "email": email,
            "phone": phone,
            "channel": channel,
            "language": language,
            "tags": tags,
            "variables": user_variables,
            "created_at": stamp,
            "updated_at": stamp,
            "last_seen_at": seen,
        }
        users[cid] = user
        # Noted at once: a new tag or variable of a later item looks its index up, and an
        # index that does not account for every chat user would be rebuilt from scratch.
        note_count()
        new_ids.append(cid)
        if ref:
            refs[ref] = cid
        if email:
            emails[email.lower()] = cid
        if phone:
            phones[phone] = cid
        events.append(("chatusers", "chatusers.changed", {"op": "created", "id": cid, "updated_at": stamp}))
        answered.append(user)
    bot.append_to_order(new_ids)
    return answered
