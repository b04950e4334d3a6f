"""Userbot's objects are untrusted input: what the engine checks of them before a model sees them.

First the AsyncAPI schema (``schema.check_items``: types, required fields, enums, patterns,
and the length of every text a column holds here, which the document bounds). Then what the
schema cannot say and the database cannot hold: a NUL character in any text (PostgreSQL
refuses it), a time that matches the pattern but names no moment (the 30th of February), and
whatever a kind adds (``more``: an email Django would refuse, a tag Userbot does not list).

An object that fails is skipped and recorded in the pull's report (``PullContext.skip``)
with its fields and why; an object here that it would have changed keeps its own values
and shows the error (``keep_ours``), so the two sides never differ in silence. The other
objects of the list go on. One new here is not stored at all: stored with a value cut or
changed to fit, it would be that silent difference; stored flagged, it would show values
it does not have. The report names it, and the first pull after Userbot mends it brings it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from backoffice.sync.models import SyncedModel, SyncState, records
from backoffice.userbot import schema
from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.schema import Checked, Rejected

NUL_MESSAGE = "holds a NUL character, which cannot be stored"
TIME_MESSAGE = "is not a real date and time"
KEPT_PREFIX = "Userbot's version cannot be stored here, so this one keeps its values"
# A reason longer than this is cut where it is shown: a message may quote what Userbot sent.
REASON_MAX = 500
_NUL = b"\\u0000"  # how orjson writes a NUL inside a string

Problems = Callable[[dict[str, Any]], dict[str, str]]


def checked(
    operation: str,
    key: str,
    items: list[Any],
    *,
    times: Sequence[str] = ("updated_at",),
    more: Problems | None = None,
) -> Checked:
    """The objects of the list ``key`` of an ``operation`` answer that pass the schema and that
    a model here can hold; the others rejected, naming their fields. ``times`` are the
    object's time fields, ``more`` a kind's own checks of an object the schema passed."""
    first = schema.check_items(operation, key, items)
    held = storable(first.items, times=times, more=more)
    return Checked(held.items, [*first.rejected, *held.rejected])


def storable(items: list[Any], *, times: Sequence[str], more: Problems | None = None) -> Checked:
    """Of objects the schema has passed, those a model here can hold; the others rejected,
    naming their fields. A kind that compares what it reads with what it holds first (the
    chat users' digests) asks this only of the objects that differ: one as last synced was
    held already."""
    valid: list[Any] = []
    refused: list[Rejected] = []
    with_nul = _holding_nul(items)
    for index, item in enumerate(items):
        problems = nul_fields(item) if index in with_nul else {}
        for name in times:
            value = item.get(name)
            # The schema's pattern has checked the form, months, hours, minutes and seconds:
            # only a day past the 28th can name no moment (the 30th of February).
            if value is not None and value[8:10] > "28" and not is_time(value):
                problems[name] = TIME_MESSAGE
        if more is not None and not problems:
            problems.update(more(item))
        if problems:
            refused.append(schema.rejected(item, problems))
        else:
            valid.append(item)
    return Checked(valid, refused)


def answer_problems(
    operation: str, payload: Any, *, times: Sequence[str] = ("updated_at",)
) -> dict[str, str]:
    """What is wrong with a 200 answer of ``operation`` carrying one object (a create's, an
    edit's): its schema's verdict, then NUL characters and ``times`` as ``checked`` does; empty
    when nothing is."""
    try:
        schema.validate_response(operation, payload)
    except PayloadInvalid as exc:
        return dict(exc.fields) or {"object": exc.message}
    if not isinstance(payload, dict):
        return {}
    return beyond_schema(payload, times=times)


def beyond_schema(item: dict[str, Any], *, times: Sequence[str]) -> dict[str, str]:
    """What the schema cannot say of an object it accepted: a NUL character in any text, and a
    time in ``times`` that matches the pattern but names no moment."""
    problems = nul_fields(item) if _NUL in orjson.dumps(item) else {}
    for name in times:
        value = item.get(name)
        if isinstance(value, str) and not is_time(value):
            problems[name] = TIME_MESSAGE
    return problems


def is_time(value: str) -> bool:
    """Whether a wire time (the schema has checked its form) names a real moment."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _holding_nul(items: list[Any]) -> set[int]:
    # One serialisation of the whole list (C speed) answers for nearly every list; only one
    # that holds a NUL somewhere is looked at object by object.
    if not items or _NUL not in orjson.dumps(items):
        return set()
    return {index for index, item in enumerate(items) if _NUL in orjson.dumps(item)}


def nul_fields(item: dict[str, Any]) -> dict[str, str]:
    """The fields of ``item`` whose text holds a NUL character (``object`` if only a name does)."""
    fields = {name: NUL_MESSAGE for name, value in item.items() if _NUL in orjson.dumps(value)}
    return fields or {"object": NUL_MESSAGE}


def reason(rejected: Rejected) -> str:
    text = rejected.reason
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


def kept_message(rejected: Rejected) -> str:
    """The sync error an object here shows when Userbot's version of it was refused."""
    return f"{KEPT_PREFIX}: {reason(rejected)}"


def is_kept(obj: SyncedModel) -> bool:
    """Whether ``obj`` shows that Userbot's last version of it was refused: a pull looks at
    Userbot's version again even when its ``updated_at`` is the one last synced."""
    return obj.sync_error.startswith(KEPT_PREFIX)


def keep_ours(model: type[SyncedModel], refused: Iterable[tuple[int, Rejected]]) -> int:
    """Flag these objects here (by pk) with why Userbot's version of each was refused; their
    values, snapshot and Userbot ``updated_at`` stay, so the next pull looks at it again.
    One in conflict stays in conflict. Returns how many were flagged."""
    by_message: dict[str, list[int]] = {}
    for pk, rejected in refused:
        by_message.setdefault(kept_message(rejected), []).append(pk)
    flagged = 0
    for message, pks in by_message.items():
        objects = records(model, pks)
        flagged += objects.exclude(sync_state=SyncState.CONFLICT).update(
            sync_state=SyncState.ERROR, sync_error=message
        )
        flagged += objects.filter(sync_state=SyncState.CONFLICT).update(sync_error=message)
    return flagged
