"""The sandbox's chat user operations (wire contract, sections 4 and 5).

Every handler validates its whole request before it changes anything, so a 400 or 404
leaves the bot as it was; every change shares the request's one ``ctx.stamp()`` and is
announced to subscribers as ``chatusers.changed``.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox import segments
from sandbox.chatuser_record import (
    MAX_PAGE,
    drop_variable,
    ensure_tag,
    put_variable,
    set_unique_key,
    touch,
)
from sandbox.registry import Context, invalid, not_found, operation
from sandbox.store import BotState, JSONDict, iso_ms

COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# --- request checks ------------------------------------------------------------------------


def _object(payload: Any) -> JSONDict:
    if not isinstance(payload, dict):
        raise invalid("payload must be an object", {"payload": "must be an object"})
    return payload


def _page(payload: JSONDict, errors: dict[str, str]) -> tuple[int, int]:
    offset, limit = payload.get("offset"), payload.get("limit")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        errors["offset"] = "required, an integer >= 0"
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        errors["limit"] = f"required, an integer 1..{MAX_PAGE}"
    return offset, limit  # type: ignore[return-value]


def _ids(payload: JSONDict, key: str, errors: dict[str, str]) -> list[str]:
    ids = payload.get(key)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        errors[key] = "required, an array of ids"
        return []
    return list(dict.fromkeys(ids))


def _raise(errors: dict[str, str]) -> None:
    if errors:
        first = next(iter(errors.items()))
        raise invalid(f"{first[0]}: {first[1]}", errors)


def _chatusers(bot: BotState, ids: list[str]) -> list[JSONDict]:
    missing = [cid for cid in ids if cid not in bot.chatusers]
    if missing:
        raise not_found(f"no chat user has id {missing[0]}")
    return [bot.chatusers[cid] for cid in ids]


def _day_bounds(payload: JSONDict) -> tuple[str, str]:
    """The first and last instant (ISO, inclusive) of a ``{from, to}`` range of dates."""
    errors: dict[str, str] = {}
    start, end = payload.get("from"), payload.get("to")
    for key, value in (("from", start), ("to", end)):
        if not isinstance(value, str) or not DATE.fullmatch(value) or segments.parse_instant(value) is None:
            errors[key] = "required, a date YYYY-MM-DD"
    _raise(errors)
    if start > end:
        raise invalid("from is after to", {"from": "after to", "to": "before from"})
    first = segments.parse_instant(start)
    last = segments.parse_instant(end)
    return iso_ms(first), iso_ms(last + 86_400_000 - 1)  # type: ignore[operator]


def _canonical_time(value: str | None) -> str | None:
    if value is None:
        return None
    return iso_ms(segments.parse_instant(value))  # type: ignore[arg-type]


# --- reading -------------------------------------------------------------------------------


@operation("chatusers.get")
def get(ctx: Context, payload: Any) -> JSONDict:
    """A page of chat users by ``created_at`` then ``id``, optionally searched or in a segment."""
    bot = ctx.bot
    body = _object(payload)
    errors: dict[str, str] = {}
    offset, limit = _page(body, errors)
    search, segment_id = body.get("search"), body.get("segment_id")
    if search is not None and not isinstance(search, str):
        errors["search"] = "must be a string"
    if segment_id is not None and not isinstance(segment_id, str):
        errors["segment_id"] = "must be a string"
    _raise(errors)
    users = bot.chatusers
    order = bot.ordered_chatuser_ids()
    if not search and segment_id is None:
        page = [users[cid] for cid in order[offset : offset + limit]]
        return {"total": len(order), "chatusers": page}
    selected: list[str] = order
    if segment_id is not None:
        segment = segments.check_segment_id(bot, segment_id)
        filters, match = segment["filters"], segment["match"]
        selected = [cid for cid in selected if segments.matches(users[cid], filters, match)]
    if search:
        needle = search.lower()
        selected = [cid for cid in selected if _found(users[cid], needle)]
    return {"total": len(selected), "chatusers": [users[cid] for cid in selected[offset : offset + limit]]}


def _found(user: JSONDict, needle: str) -> bool:
    return any(needle in (user.get(key) or "").lower() for key in ("name", "surname", "email", "phone"))


@operation("chatusers.insights")
def insights(ctx: Context, payload: Any) -> JSONDict:
    """Counts of chat users over an inclusive range of dates."""
    first, last = _day_bounds(_object(payload))
    total = new = active = 0
    by_channel: dict[str, int] = {}
    by_language: dict[str, int] = {}
    for user in ctx.bot.chatusers.values():
        created = _canonical_time(user["created_at"]) or ""
        if created > last:
            continue
        total += 1
        new += created >= first
        seen = _canonical_time(user.get("last_seen_at"))
        active += seen is not None and first <= seen <= last
        by_channel[user["channel"]] = by_channel.get(user["channel"], 0) + 1
        by_language[user["language"]] = by_language.get(user["language"], 0) + 1
    return {
        "total": total,
        "new": new,
        "active": active,
        "by_channel": by_channel,
        "by_language": by_language,
    }


@operation("chatusers.get-feedback")
def get_feedback(ctx: Context, payload: Any) -> JSONDict:
    """A page of feedback, newest first, optionally of one chat user."""
    bot = ctx.bot
    body = _object(payload)
    errors: dict[str, str] = {}
    offset, limit = _page(body, errors)
    chatuser_id = body.get("chatuser_id")
    if chatuser_id is not None and not isinstance(chatuser_id, str):
        errors["chatuser_id"] = "must be a string"
    _raise(errors)
    if chatuser_id is not None:
        _chatusers(bot, [chatuser_id])
    items = [f for f in bot.feedback.values() if chatuser_id is None or f["chatuser_id"] == chatuser_id]
    items.sort(key=lambda f: (f["created_at"], f["id"]), reverse=True)
    return {"total": len(items), "feedback": items[offset : offset + limit]}


@operation("chatusers.get-bot-tags")
def get_bot_tags(ctx: Context, payload: Any) -> JSONDict:
    """Every tag of the bot, in creation order."""
    return {"tags": list(ctx.bot.tags.values())}


@operation("chatusers.get-vars")
def get_vars(ctx: Context, payload: Any) -> JSONDict:
    """The variables of one chat user."""
    body = _object(payload)
    chatuser_id = body.get("chatuser_id")
    if not isinstance(chatuser_id, str):
        raise invalid("chatuser_id is required", {"chatuser_id": "required, a string"})
    return {"variables": _chatusers(ctx.bot, [chatuser_id])[0]["variables"]}


@operation("bot.get-vars")
def bot_get_vars(ctx: Context, payload: Any) -> JSONDict:
    """The variable names the bot uses, each with its type (always ``string`` here)."""
    catalogue = {entry["name"]: entry for entry in ctx.bot.bot_variables}
    for name in ctx.bot.variable_ids:
        catalogue.setdefault(name, {"name": name, "type": "string"})
    return {"variables": list(catalogue.values())}


@operation("chatusers.delete")
def delete(ctx: Context, payload: Any) -> JSONDict:
    """Delete chat users by id, skipping unknown ids and freeing their unique keys."""
    bot = ctx.bot
    errors: dict[str, str] = {}
    ids = _ids(_object(payload), "ids", errors)
    _raise(errors)
    users = bot.chatusers
    removed: list[JSONDict] = []
    for cid in ids:
        user = users.get(cid)
        if user is None:
            continue
        for key in ("client_ref", "email", "phone"):
            set_unique_key(bot, user, key, None)
        del users[cid]
        # Noted at once: an index is trusted only while it accounts for every chat user.
        bot.note_chatusers_count()
        removed.append(user)
    if removed:
        stamp = ctx.stamp_iso()
        ctx.events.extend(
            ("chatusers", "chatusers.changed", {"op": "deleted", "id": user["id"], "updated_at": stamp})
            for user in removed
        )
        bot.remove_from_order(removed)
    return {"deleted": len(removed)}


# --- tags and variables ----------------------------------------------------------------------


@operation("chatusers.add-tag")
def add_tag(ctx: Context, payload: Any) -> JSONDict:
    """Tag chat users with a tag given by id, or by name (created when new)."""
    bot = ctx.bot
    body = _object(payload)
    errors: dict[str, str] = {}
    ids = _ids(body, "chatuser_ids", errors)
    tag = body.get("tag")
    if not isinstance(tag, dict):
        errors["tag"] = "required, {id} or {name, color?}"
    elif "id" in tag:
        if set(tag) != {"id"} or not isinstance(tag["id"], str):
            errors["tag"] = "{id} alone, a string"
    else:
        name, color = tag.get("name"), tag.get("color")
        if set(tag) - {"name", "color"} or not isinstance(name, str) or not name.strip():
            errors["tag.name"] = "required, a non-empty string"
        if color is not None and (not isinstance(color, str) or not COLOR.fullmatch(color)):
            errors["tag.color"] = "must be #rrggbb"
    _raise(errors)
    users = _chatusers(bot, ids)
    if "id" in tag:
        if tag["id"] not in bot.tags:
            raise not_found(f"no tag has id {tag['id']}")
        tid = tag["id"]
    else:
        tid = ensure_tag(ctx, tag["name"].strip(), tag.get("color"))
    for user in users:
        if tid not in user["tags"]:
            user["tags"] = [*user["tags"], tid]
            touch(ctx, user)
    return {"tag": bot.tags[tid], "chatusers": users}


@operation("chatusers.remove-tag")
def remove_tag(ctx: Context, payload: Any) -> JSONDict:
    """Take a tag off chat users; those without it are left as they are."""
    bot = ctx.bot
    body = _object(payload)
    errors: dict[str, str] = {}
    ids = _ids(body, "chatuser_ids", errors)
    tid = body.get("element_id")
    if not isinstance(tid, str):
        errors["element_id"] = "required, a tag id"
    _raise(errors)
    users = _chatusers(bot, ids)
    if tid not in bot.tags:
        raise not_found(f"no tag has id {tid}")
    for user in users:
        if tid in user["tags"]:
            user["tags"] = [t for t in user["tags"] if t != tid]
            touch(ctx, user)
    return {"chatusers": users}


@operation("chatusers.set-variable")
def set_variable(ctx: Context, payload: Any) -> JSONDict:
    """Update a variable the chat user has (by id), or create or update one by name."""
    bot = ctx.bot
    body = _object(payload)
    errors: dict[str, str] = {}
    chatuser_id = body.get("chatuser_id")
    if not isinstance(chatuser_id, str):
        errors["chatuser_id"] = "required, a string"
    extra = set(body) - {"chatuser_id", "variable_id", "value", "variable"}
    if extra:
        errors[sorted(extra)[0]] = "unknown field"
    if "variable" in body:
        variable = body["variable"]
        if "variable_id" in body or "value" in body:
            errors["variable"] = "give either variable_id and value, or variable"
        elif (
            not isinstance(variable, dict)
            or set(variable) != {"name", "value"}
            or not isinstance(variable["name"], str)
            or not variable["name"]
            or not isinstance(variable["value"], str)
        ):
            errors["variable"] = "must be {name, value}, both strings"
        elif not variable["name"].strip():
            errors["variable"] = "name: must not be only blanks"
    else:
        if not isinstance(body.get("variable_id"), str):
            errors["variable_id"] = "required, a variable id (or give variable)"
        if not isinstance(body.get("value"), str):
            errors["value"] = "required, a string"
    _raise(errors)
    user = _chatusers(bot, [chatuser_id])[0]
    if "variable" in body:
        name, value = body["variable"]["name"], body["variable"]["value"]
    else:
        name = next((v["name"] for v in user["variables"] if v["id"] == body["variable_id"]), None)
        if name is None:
            raise not_found(f"the chat user has no variable with id {body['variable_id']}")
        value = body["value"]
    if put_variable(ctx, user, name, value):
        touch(ctx, user)
    return user


@operation("chatusers.remove-variable")
def remove_variable(ctx: Context, payload: Any) -> JSONDict:
    """Remove the variable an id stands for (its name, bot-wide) from chat users."""
    bot = ctx.bot
    body = _object(payload)
    errors: dict[str, str] = {}
    ids = _ids(body, "chatuser_ids", errors)
    vid = body.get("element_id")
    if not isinstance(vid, str):
        errors["element_id"] = "required, a variable id"
    _raise(errors)
    users = _chatusers(bot, ids)
    name = bot.chatuser_index("variable_name").get(vid)
    if name is None:
        raise not_found(f"no variable has id {vid}")
    for user in users:
        if drop_variable(user, name):
            touch(ctx, user)
    return {"chatusers": users}
