"""``chatusers.import``: create and update chat users from CSV (wire contract, section 6).

The whole CSV is read before any row applies, so a malformed file or a bad header answers
400 and changes nothing. Rows then apply one by one: a row that fails is reported and
changes nothing, and every later row sees what the earlier ones did. A CSV over 10 MiB
(UTF-8 bytes) answers 413 ``too_large``, like a frame over the limit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sandbox import chatuser_record as record
from sandbox.registry import Context, SandboxError, invalid, operation
from sandbox.store import JSONDict

MAX_CSV_BYTES = 10 * 1024 * 1024
FIELD_COLUMNS = ("id", "client_ref", "name", "surname", "email", "phone", "channel", "language", "tags")
VARIABLE_PREFIX = "var:"


class RowError(Exception):
    """What is wrong with one row; the row changes nothing."""


def read_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows (blank lines dropped), or 400 for malformed CSV or a bad header."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        lines = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise invalid(f"malformed CSV: {exc}", {"csv": f"malformed CSV: {exc}"}) from None
    if not lines:
        raise invalid("the CSV has no header row", {"csv": "a header row is required"})
    header = lines[0]
    seen: set[str] = set()
    for column in header:
        is_variable = column.startswith(VARIABLE_PREFIX) and bool(column[len(VARIABLE_PREFIX) :].strip())
        known = column in FIELD_COLUMNS or is_variable
        if not known:
            raise invalid(f"unknown column {column!r}", {"csv": f"unknown column {column!r}"})
        if column in seen:
            raise invalid(f"repeated column {column!r}", {"csv": f"repeated column {column!r}"})
        if is_variable and (problem := record.name_problem(column[len(VARIABLE_PREFIX) :])):
            raise invalid(
                f"a variable column's name {problem}", {"csv": f"a variable column's name {problem}"}
            )
        seen.add(column)
    return header, lines[1:]


def _match(ctx: Context, row: dict[str, str]) -> JSONDict | None:
    """The chat user a row updates, None for a new one; RowError when its keys disagree."""
    bot = ctx.bot
    target: str | None = None
    if row.get("id"):
        target = row["id"]
        if target not in bot.chatusers:
            raise RowError(f"no chat user has id {target}")
    else:
        for key in ("client_ref", "email", "phone"):
            target = record.owner_of(bot, key, row.get(key))
            if target is not None:
                break
    for key in ("client_ref", "email", "phone"):
        owner = record.owner_of(bot, key, row.get(key))
        if owner is not None and owner != target:
            raise RowError(f"the row's {key} belongs to another chat user than the one it updates")
    return bot.chatusers[target] if target is not None else None


_CELL_RULES = (
    ("name", record.name_problem),
    ("surname", record.name_problem),
    ("client_ref", record.client_ref_problem),
    ("email", record.email_problem),
    ("phone", record.phone_problem),
    ("language", record.language_problem),
)


def _check_cells(row: dict[str, str]) -> None:
    for key, rule in _CELL_RULES:
        value = row.get(key)
        if value and (problem := rule(value)):
            raise RowError(f"{key}: {problem}")
    if "channel" in row:
        if not row["channel"]:
            raise RowError("channel: must not be empty")
        if problem := record.channel_problem(row["channel"]):
            raise RowError(f"channel: {problem}")
    for name in record.tag_names(row.get("tags", "").split("|")):
        if problem := record.tag_name_problem(name):
            raise RowError(f"tags: {problem}")


@dataclass(frozen=True, slots=True)
class Columns:
    """What a header sets, worked out once per request rather than once per row."""

    fields: tuple[str, ...]  # of name, surname, channel, language
    keys: tuple[str, ...]  # of client_ref, email, phone
    tags: bool
    variables: tuple[tuple[str, str], ...]  # (column, variable name), in header order

    @classmethod
    def of(cls, header: list[str]) -> Columns:
        return cls(
            fields=tuple(key for key in ("name", "surname", "channel", "language") if key in header),
            keys=tuple(key for key in ("client_ref", "email", "phone") if key in header),
            tags="tags" in header,
            variables=tuple(
                (column, column[len(VARIABLE_PREFIX) :])
                for column in header
                if column.startswith(VARIABLE_PREFIX)
            ),
        )


def _apply_row(
    ctx: Context, row: dict[str, str], columns: Columns, changed: dict[str, str]
) -> tuple[str, str]:
    """Apply one valid row; (``created`` | ``updated`` | ``unchanged``, chat user id)."""
    bot = ctx.bot
    _check_cells(row)
    user = _match(ctx, row)
    fields = {key: row[key] for key in columns.fields}
    keys = {key: row[key] or None for key in columns.keys}
    new_tags = record.tag_names(row["tags"].split("|")) if columns.tags else None
    variables = {name: row[column] for column, name in columns.variables}
    if user is None:
        stamp = ctx.stamp_iso()
        user = {
            "id": ctx.store.new_id(),
            "client_ref": None,
            "name": fields.get("name", ""),
            "surname": fields.get("surname", ""),
            "email": None,
            "phone": None,
            "channel": fields.get("channel", "api"),
            "language": fields.get("language", ""),
            "tags": [record.ensure_tag(ctx, name) for name in new_tags or ()],
            "variables": [],
            "created_at": stamp,
            "updated_at": stamp,
            "last_seen_at": None,
        }
        for name, value in variables.items():
            if value:
                record.put_variable(ctx, user, name, value)
        record.add_chatuser(bot, user)
        for key, value in keys.items():
            record.set_unique_key(bot, user, key, value)
        changed[user["id"]] = "created"
        return "created", user["id"]
    # Unchanged when every cell already holds (tags compare as a set; an empty variable
    # cell holds when the chat user lacks that variable).
    tags_before = frozenset(user["tags"])
    tags_after = tags_before
    if new_tags is not None:
        by_name = bot.chatuser_index("tag_name")
        tags_after = frozenset(by_name.get(n.lower(), f"new:{n}") for n in new_tags)
    same = (
        tags_after == tags_before
        and all(user[key] == value for key, value in fields.items())
        and all(user[key] == value for key, value in keys.items())
    )
    if same and variables:
        held = {v["name"]: v["value"] for v in user["variables"]}
        same = all(
            held.get(name) == value if value else name not in held for name, value in variables.items()
        )
    if same:
        return "unchanged", user["id"]
    user.update(fields)
    for key, value in keys.items():
        if user[key] != value:  # a key kept as it was is already indexed to this chat user
            record.set_unique_key(bot, user, key, value)
    if tags_after != tags_before:
        user["tags"] = [record.ensure_tag(ctx, name) for name in new_tags or ()]
    for name, value in variables.items():
        if value:
            record.put_variable(ctx, user, name, value)
        else:
            record.drop_variable(user, name)
    user["updated_at"] = ctx.stamp_iso()
    changed.setdefault(user["id"], "updated")
    return "updated", user["id"]


@operation("chatusers.import")
def import_csv(ctx: Context, payload: Any) -> JSONDict:
    """Apply a CSV row by row and report what each row did."""
    if not isinstance(payload, dict):
        raise invalid("payload must be an object", {"payload": "must be an object"})
    errors: dict[str, str] = {key: "unknown field" for key in payload if key not in ("filename", "csv")}
    if not isinstance(payload.get("filename"), str):
        errors["filename"] = "required, a string"
    if not isinstance(payload.get("csv"), str):
        errors["csv"] = "required, CSV text"
    if errors:
        raise invalid(next(iter(errors.values())), errors)
    text: str = payload["csv"]
    if len(text) > MAX_CSV_BYTES or (len(text) * 4 > MAX_CSV_BYTES and len(text.encode()) > MAX_CSV_BYTES):
        raise SandboxError(413, "too_large", "a CSV is at most 10 MiB; split a larger file")
    header, rows = read_csv(text)
    columns = Columns.of(header)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    row_errors: list[JSONDict] = []
    ids: list[str | None] = []
    changed: dict[str, str] = {}
    for number, cells in enumerate(rows, start=1):
        try:
            if len(cells) != len(header):
                raise RowError(f"the row has {len(cells)} cells; the header has {len(header)}")
            outcome, cid = _apply_row(ctx, dict(zip(header, cells, strict=True)), columns, changed)
        except RowError as exc:
            row_errors.append({"row": number, "message": str(exc)})
            ids.append(None)
            continue
        counts[outcome] += 1
        ids.append(cid)
    for cid, op in changed.items():
        user = ctx.bot.chatusers[cid]
        ctx.emit("chatusers", "chatusers.changed", {"op": op, "id": cid, "updated_at": user["updated_at"]})
    return {**counts, "errors": row_errors, "ids": ids}
