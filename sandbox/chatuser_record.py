"""One chat user as the sandbox keeps it: what its fields may hold, and the writes that keep
the bot's indexes in step with it.

Shared by every path that writes chat users: the handlers of ``chatusers``, the bulk
create (``chatusers_create``) and the CSV import (``csv_import``), so all three accept and
refuse the same values and leave the same indexes behind.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from backoffice.userbot.iso639 import LANGUAGES
from backoffice.userbot.vocabulary import CHANNELS
from sandbox import segments
from sandbox.registry import Context
from sandbox.store import BotState, JSONDict, iso_ms

DEFAULT_TAG_COLOR = "#607d8b"
MAX_PAGE = 1000  # chat users a page holds, and a create or an import takes at most
MAX_CLIENT_REF = 64
# The schema's bounds (its "Bounds" section): a name or surname, a tag's name, an email.
MAX_NAME = 200
MAX_TAG_NAME = 100
MAX_EMAIL = 254
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+[1-9][0-9]{1,14}")
CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


# --- field rules ---------------------------------------------------------------------------


def email_problem(value: str) -> str | None:
    """What is wrong with an email address, or None; the ``*_problem`` rules below read alike."""
    if len(value) > MAX_EMAIL:
        return f"must have at most {MAX_EMAIL} characters"
    return None if EMAIL.fullmatch(value) else "not an email address"


def name_problem(value: str) -> str | None:
    """A chat user's name or surname, a variable's name."""
    return None if len(value) <= MAX_NAME else f"must have at most {MAX_NAME} characters"


def tag_name_problem(value: str) -> str | None:
    return None if len(value) <= MAX_TAG_NAME else f"a tag name has at most {MAX_TAG_NAME} characters"


def phone_problem(value: str) -> str | None:
    return None if PHONE.fullmatch(value) else "not an E.164 phone number (+ and up to 15 digits)"


def language_problem(value: str) -> str | None:
    return None if value == "" or value in LANGUAGES else "not an ISO 639-1 code"


def channel_problem(value: str) -> str | None:
    return None if value in CHANNELS else f"must be one of {', '.join(CHANNELS)}"


def client_ref_problem(value: str) -> str | None:
    return None if 1 <= len(value) <= MAX_CLIENT_REF else f"must be 1 to {MAX_CLIENT_REF} characters"


def tag_names(names: list[str]) -> list[str]:
    """Tag names without surrounding blanks, empties or case-insensitive repeats, in order."""
    seen: dict[str, str] = {}
    for raw in names:
        name = raw.strip()
        if name:
            seen.setdefault(name.lower(), name)
    return list(seen.values())


def canonical_time_or_none(value: Any) -> str | None:
    """A time as the wire writes it (``2026-11-24T09:30:00.000Z``), or None if it is not one.

    A time already written that way is its own canonical form once it names a real
    instant, which spares formatting it again (the costly step) for every chat user.
    """
    if not isinstance(value, str):
        return None
    if CANONICAL_TIME.fullmatch(value) and value >= "1000":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return None
        return value
    at = segments.parse_instant(value)
    return None if at is None else iso_ms(at)


# --- writes --------------------------------------------------------------------------------


def ensure_tag(ctx: Context, name: str, color: str | None = None) -> str:
    """The id of the tag named ``name`` (any case), created with ``color`` if it is new."""
    bot = ctx.bot
    by_name = bot.chatuser_index("tag_name")
    tid = by_name.get(name.lower())
    if tid is None:
        tid = ctx.store.new_id()
        bot.tags[tid] = {"id": tid, "name": name, "color": color or DEFAULT_TAG_COLOR}
        by_name[name.lower()] = tid
    return tid


def variable_id(ctx: Context, name: str) -> str:
    """The bot-wide id of a variable name, assigned the first time the name is used."""
    bot = ctx.bot
    vid = bot.variable_ids.get(name)
    if vid is None:
        vid = ctx.store.new_id()
        bot.variable_ids[name] = vid
        bot.chatuser_index("variable_name")[vid] = name
    return vid


def touch(ctx: Context, user: JSONDict, op: str = "updated") -> None:
    """Mark one chat user changed by this request and announce it."""
    user["updated_at"] = ctx.stamp_iso()
    ctx.emit("chatusers", "chatusers.changed", {"op": op, "id": user["id"], "updated_at": user["updated_at"]})


def set_unique_key(bot: BotState, user: JSONDict, key: str, value: str | None) -> None:
    """Change ``email``, ``phone`` or ``client_ref`` and keep its index in step."""
    index = bot.chatuser_index(key)
    old = user.get(key)
    if old:
        index.pop(old.lower() if key == "email" else old, None)
    if value:
        index[value.lower() if key == "email" else value] = user["id"]
    user[key] = value


def owner_of(bot: BotState, key: str, value: str | None) -> str | None:
    """The id of the chat user holding this ``email``, ``phone`` or ``client_ref``, if any."""
    if not value:
        return None
    return bot.chatuser_index(key).get(value.lower() if key == "email" else value)


def add_chatuser(bot: BotState, user: JSONDict) -> None:
    """Store a new chat user and keep the ordered id list without a full sort."""
    bot.chatusers[user["id"]] = user
    bot.append_to_order([user["id"]])
    bot.note_chatusers_count()


def put_variable(ctx: Context, user: JSONDict, name: str, value: str) -> bool:
    """Set a variable on a chat user; False when it already held that value."""
    for variable in user["variables"]:
        if variable["name"] == name:
            if variable["value"] == value:
                return False
            user["variables"] = [{**v, "value": value} if v["name"] == name else v for v in user["variables"]]
            return True
    user["variables"] = [*user["variables"], {"id": variable_id(ctx, name), "name": name, "value": value}]
    return True


def drop_variable(user: JSONDict, name: str) -> bool:
    """Remove a variable from a chat user; False when it did not have it."""
    kept = [v for v in user["variables"] if v["name"] != name]
    if len(kept) == len(user["variables"]):
        return False
    user["variables"] = kept
    return True
