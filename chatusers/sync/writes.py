"""How the chat users' scan writes what it found: set-based on PostgreSQL, portable elsewhere.

New chat users go in as one JSON document a batch that PostgreSQL parses in C (row by row
on SQLite, the embedded default); a changed chat user gets its fields, tags and variables
from the document the reconcile decided on. Nothing here decides anything, and nothing
written here queues a push.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backoffice.sync.db import any_of
from backoffice.sync.kinds import parse_time
from backoffice.sync.merge import Doc
from backoffice.sync.models import SyncState, new_client_refs, record_of
from chatusers.models import ChatUser, ChatUserSync, ChatUserTag, Variable
from chatusers.sync.documents import FIELDS, VAR, wire_digest
from chatusers.sync.tags import TagBook


def commit_without_waiting() -> None:
    """A first load's batch need not wait for its commit to reach the disk: a crash loses
    at most the last batches, which the checkpoint (committed after them) reads again."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def analyze_loaded() -> None:
    """Statistics for the planner of the tables a first load filled: without them (until
    autovacuum's next pass, if it runs at all) it takes a bot of a million for a few hundred
    rows and plans every later query of them for that."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = "chatusers_chatuser, chatusers_chatusersync, chatusers_chatusertag, chatusers_variable"
            cursor.execute(f"ANALYZE {tables}")


def _row_values(user: dict[str, Any], doc: Doc, new_ref: str) -> tuple[Any, ...]:
    """A new chat user's columns; ``new_ref`` is its client_ref if Userbot gave none."""
    return (
        user["id"],
        user.get("client_ref") or new_ref,
        doc["name"],
        doc["surname"],
        doc["email"],
        doc["phone"],
        doc["channel"],
        doc["language"],
        parse_time(user.get("created_at")) or timezone.now(),
        parse_time(user.get("last_seen_at")),
        parse_time(user["updated_at"]),
    )


def insert_chatusers(
    bot_id: int, rows: list[tuple[dict[str, Any], Doc]], now: Any, *, fresh: bool = False
) -> list[tuple[int, str]]:
    """Insert chat users new here, already synced; returns (pk, Userbot id) of those inserted:
    one whose key (email, phone, client_ref) another chat user here still holds is left out.

    ``fresh``: the bot had no chat users when the scan began (a first load), so no key is
    expected to be held: the batch goes in by COPY, and only if a key is held after all (two
    chat users of Userbot with one email, a refresh that came first) by the statement that
    skips them."""
    if connection.vendor != "postgresql":
        return _insert_portable(bot_id, rows, now)
    batch = _new_rows(rows)
    if fresh:
        copied = _copy_postgres(bot_id, batch, now)
        if copied is not None:
            return copied
    return _insert_postgres(bot_id, batch, now)


def _new_rows(rows: list[tuple[dict[str, Any], Doc]]) -> list[dict[str, Any]]:
    """The batch's rows by column, each client_ref once: a repeat is left to the next pull, as
    a held key is."""
    names = ("remote_id", "client_ref", *FIELDS, "created_at", "last_seen_at", "updated_at")
    batch, refs = [], set()
    for (user, doc), ref in zip(rows, new_client_refs(len(rows)), strict=True):
        row = {**dict(zip(names, _row_values(user, doc, ref), strict=True)), "snapshot": doc}
        row["digest"] = wire_digest(user)
        if row["client_ref"] not in refs:
            refs.add(row["client_ref"])
            batch.append(row)
    return batch


def _copy_postgres(bot_id: int, batch: list[dict[str, Any]], now: Any) -> list[tuple[int, str]] | None:
    """The batch and its sync records by COPY, with ids drawn beforehand; None, with nothing
    written, if a unique key is held."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('chatusers_chatuser', 'id')) FROM generate_series(1, %s)",
            [len(batch)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        users = (
            (pk, bot_id, r["client_ref"], *(r[f] for f in FIELDS), r["created_at"], r["last_seen_at"], now)
            for pk, r in zip(ids, batch, strict=True)
        )
        records = (
            (pk, bot_id, r["created_at"], r["remote_id"], SyncState.SYNCED, now, r["updated_at"], "",
             orjson.dumps(r["snapshot"]).decode(), r["digest"])
            for pk, r in zip(ids, batch, strict=True)
        )  # fmt: skip
        copied = _copy_all(
            cursor,
            [
                (f"chatusers_chatuser (id, bot_id, client_ref, {', '.join(FIELDS)}, created_at,"
                 " last_seen_at, updated_at)", users),
                ("chatusers_chatusersync (chatuser_id, bot_id, created_at, remote_id, sync_state, synced_at,"
                 " remote_updated_at, sync_error, synced_snapshot, wire_digest)", records),
            ],
        )  # fmt: skip
    return [(pk, r["remote_id"]) for pk, r in zip(ids, batch, strict=True)] if copied else None


def _copy_all(cursor: Any, tables: list[tuple[str, Any]]) -> bool:
    """COPY each ``(table and columns, rows)`` in turn, all or none (a savepoint): False,
    with nothing written, if a row would break a unique key."""
    try:
        with transaction.atomic(), connection.wrap_database_errors:
            for target, rows in tables:
                with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
    except IntegrityError:
        return False
    return True


def _insert_postgres(bot_id: int, batch: list[dict[str, Any]], now: Any) -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        # One JSON document for the batch, parsed by PostgreSQL in C, and one statement for the
        # chat users and their sync records, joined on the client_ref (unique in the bot). A key
        # another chat user here still holds skips the row (ON CONFLICT), for the caller to count.
        cursor.execute(
            "WITH v AS ("
            " SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v(remote_id text, client_ref text, name text,"
            " surname text, email text, phone text, channel text, language text, created_at timestamptz,"
            " last_seen_at timestamptz, updated_at timestamptz, snapshot jsonb, digest bigint)"
            "), added AS ("
            " INSERT INTO chatusers_chatuser (bot_id, client_ref, name, surname, email, phone, channel,"
            " language, created_at, last_seen_at, updated_at)"
            " SELECT %s, v.client_ref, v.name, v.surname, v.email, v.phone, v.channel, v.language,"
            " v.created_at, v.last_seen_at, %s FROM v"
            " ON CONFLICT DO NOTHING RETURNING id, client_ref, created_at"
            "), recorded AS ("
            " INSERT INTO chatusers_chatusersync (chatuser_id, bot_id, created_at, remote_id, sync_state,"
            " synced_at, remote_updated_at, sync_error, synced_snapshot, wire_digest)"
            " SELECT added.id, %s, added.created_at, v.remote_id, %s, %s, v.updated_at, '', v.snapshot,"
            " v.digest"
            " FROM added JOIN v ON v.client_ref = added.client_ref"
            " ON CONFLICT DO NOTHING RETURNING chatuser_id, remote_id"
            ") SELECT added.id, recorded.remote_id FROM added"
            " LEFT JOIN recorded ON recorded.chatuser_id = added.id",
            [orjson.dumps(batch).decode(), bot_id, now, bot_id, SyncState.SYNCED, now],
        )
        found = cursor.fetchall()
        # A Userbot id another chat user here holds (met in a concurrent refresh) left its
        # chat user without a record: it goes, and the next pull sees it again.
        orphans = [pk for pk, rid in found if rid is None]
        if orphans:
            cursor.execute("DELETE FROM chatusers_chatuser WHERE id = ANY(%s)", [orphans])
    return [(pk, rid) for pk, rid in found if rid is not None]


def _insert_portable(bot_id: int, rows: list[tuple[dict[str, Any], Doc]], now: Any) -> list[tuple[int, str]]:
    inserted = []
    for (user, doc), new_ref in zip(rows, new_client_refs(len(rows)), strict=True):
        rid, ref, name, surname, email, phone, channel, language, created, seen, updated = _row_values(
            user, doc, new_ref
        )
        try:
            with transaction.atomic():
                obj = ChatUser(
                    bot_id=bot_id,
                    remote_id=rid,
                    client_ref=ref,
                    name=name,
                    surname=surname,
                    email=email,
                    phone=phone,
                    channel=channel,
                    language=language,
                    created_at=created,
                    last_seen_at=seen,
                    remote_updated_at=updated,
                    sync_state=SyncState.SYNCED,
                    synced_at=now,
                    synced_snapshot=doc,
                )
                record_of(obj).wire_digest = wire_digest(user)
                obj.save(force_insert=True)
        except IntegrityError:
            continue
        inserted.append((obj.pk, rid))
    return inserted


def insert_links(
    links: list[tuple[int, int]], variables: list[tuple[int, str, str]], *, fresh: bool = False
) -> None:
    """The tags and variables of chat users just inserted. ``fresh``: as for
    ``insert_chatusers`` (a COPY, unless a link is there twice)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = [("chatusers_chatusertag (chatuser_id, tag_id)", links),
                      ("chatusers_variable (chatuser_id, name, value)", variables)]  # fmt: skip
            if fresh and _copy_all(cursor, [(target, rows) for target, rows in tables if rows]):
                return
            if links:
                cursor.execute(
                    "INSERT INTO chatusers_chatusertag (chatuser_id, tag_id)"
                    " SELECT v.c, v.t FROM jsonb_to_recordset(%s::jsonb) AS v(c bigint, t bigint)"
                    " ON CONFLICT DO NOTHING",
                    [orjson.dumps([{"c": c, "t": t} for c, t in links]).decode()],
                )
            if variables:
                cursor.execute(
                    "INSERT INTO chatusers_variable (chatuser_id, name, value)"
                    " SELECT v.c, v.n, v.v FROM jsonb_to_recordset(%s::jsonb) AS v(c bigint, n text, v text)"
                    " ON CONFLICT DO NOTHING",
                    [orjson.dumps([{"c": c, "n": n, "v": v} for c, n, v in variables]).decode()],
                )
        return
    ChatUserTag.objects.bulk_create(
        [ChatUserTag(chatuser_id=a, tag_id=b) for a, b in links], ignore_conflicts=True
    )
    Variable.objects.bulk_create(
        [Variable(chatuser_id=a, name=b, value=c) for a, b, c in variables], ignore_conflicts=True
    )


def write_changes(
    writes: list[tuple[ChatUser, dict[str, Any], Doc, Doc]], book: TagBook, now: Any
) -> dict[int, str]:
    """Set each chat user to its ``after`` document and Userbot's own fields; returns the
    chat users that could not take it (a key another chat user here still holds), with why."""
    failed: dict[int, str] = {}
    try:
        with transaction.atomic():
            _write_fields(writes, now)
    except IntegrityError:
        for write in writes:
            try:
                with transaction.atomic():
                    _write_fields([write], now)
            except IntegrityError:
                failed[write[0].pk] = "another chat user here still holds this email or phone"
    ok = [w for w in writes if w[0].pk not in failed]
    retag = [(local.pk, after) for local, _, before, after in ok if before.get("tags") != after.get("tags")]
    if retag:
        ChatUserTag.objects.filter(chatuser_id__in=any_of([pk for pk, _ in retag])).delete()
    revar = [
        (local.pk, after)
        for local, _, before, after in ok
        if {k: v for k, v in before.items() if k.startswith(VAR)}
        != {k: v for k, v in after.items() if k.startswith(VAR)}
    ]
    if revar:
        Variable.objects.filter(chatuser_id__in=any_of([pk for pk, _ in revar])).delete()
    insert_links(
        [(pk, book.by_name[name].pk) for pk, after in retag for name in after["tags"]],
        [(pk, k[len(VAR) :], v) for pk, after in revar for k, v in after.items() if k.startswith(VAR)],
    )
    return failed


def _write_fields(writes: list[tuple[ChatUser, dict[str, Any], Doc, Doc]], now: Any) -> None:
    objects, moved = [], []
    for local, user, _, after in writes:
        for field in FIELDS:
            setattr(local, field, after[field])
        created = parse_time(user.get("created_at")) or local.created_at
        if created != local.created_at:
            record = record_of(local)
            local.created_at = record.created_at = created
            moved.append(record)
        local.last_seen_at = parse_time(user.get("last_seen_at"))
        local.updated_at = now
        objects.append(local)
    if connection.vendor == "postgresql":
        _update_postgres(objects, moved)
        return
    ChatUser.objects.bulk_update(
        objects, [*FIELDS, "created_at", "last_seen_at", "updated_at"], batch_size=1000
    )
    # The record's copy of the creation time, which its index orders the unsynced by.
    ChatUserSync.objects.bulk_update(moved, ["created_at"], batch_size=1000)


_COLUMNS = (*FIELDS, "created_at", "last_seen_at", "updated_at")
_TYPES = {"created_at": "timestamptz", "last_seen_at": "timestamptz", "updated_at": "timestamptz"}


def _update_postgres(objects: list[ChatUser], moved: list[ChatUserSync]) -> None:
    """``bulk_update`` as one JSON document a batch that PostgreSQL parses in C: Django's
    builds a CASE of every object for every column, which costs more to compile than the
    update costs to run."""
    rows = [{"id": c.pk, **{name: getattr(c, name) for name in _COLUMNS}} for c in objects]
    columns = ", ".join(f"{name} {_TYPES.get(name, 'text')}" for name in _COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(  # every name here is a constant of this module
            f"UPDATE chatusers_chatuser AS c SET {', '.join(f'{n} = v.{n}' for n in _COLUMNS)}"  # noqa: S608
            f" FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, {columns}) WHERE c.id = v.id",
            [orjson.dumps(rows).decode()],
        )
        if moved:
            cursor.execute(
                "UPDATE chatusers_chatusersync AS s SET created_at = v.created_at"
                " FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, created_at timestamptz)"
                " WHERE s.chatuser_id = v.id",
                [orjson.dumps([{"id": r.pk, "created_at": r.created_at} for r in moved]).decode()],
            )
