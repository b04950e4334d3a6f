"""Set-based writes of the sync bookkeeping: one statement per batch, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection
from django.db.models import Exists, OuterRef
from django.db.models.expressions import RawSQL

from backoffice.sync.merge import Doc
from backoffice.sync.models import RECORD_FIELDS, OutboxEntry, SyncedModel, SyncState, record_model, records

InFlight = OutboxEntry.State.IN_FLIGHT


@dataclass(frozen=True)
class SyncedRow:
    """What a push or a pull learnt of one object. ``state`` None means "synced, unless the
    object changed again meanwhile (a pending entry), has a change in the dead-letter list
    (error), or waits on a conflict"."""

    pk: int
    remote_id: str | None
    snapshot: Doc | None
    remote_updated_at: datetime | None
    error: str = ""
    state: str | None = None
    # A digest of Userbot's object as read (records that keep one: the chat users'); None
    # when what was learnt held no whole object, which the next pull then looks at.
    digest: int | None = None


def record_synced(model: type[SyncedModel], rows: Sequence[SyncedRow], *, now: datetime) -> None:
    """Write remote id, snapshot, Userbot's updated_at, last synced, error and state, on the
    objects' sync records (their rows, or their narrow table's)."""
    if not rows:
        return
    label = model._meta.label_lower
    digested = keeps_digest(model)
    if connection.vendor == "postgresql":
        meta = record_model(model)._meta
        table, pk = meta.db_table, meta.pk.column
        outbox = OutboxEntry._meta.db_table
        rows_json = orjson.dumps(
            [
                {
                    "id": r.pk,
                    "remote_id": r.remote_id,
                    "snapshot": r.snapshot,
                    "updated_at": r.remote_updated_at,
                    "error": r.error,
                    "state": r.state,
                    "digest": r.digest,
                }
                for r in rows
            ]
        ).decode()
        with connection.cursor() as cursor:
            # One JSON document for the whole batch: PostgreSQL parses it in C, where
            # adapting arrays value by value costs more than the update itself.
            cursor.execute(  # the table names come from the models' meta, never from input
                f"""
                UPDATE {table} AS t SET
                    remote_id = COALESCE(v.remote_id, t.remote_id),
                    synced_snapshot = v.snapshot,
                    remote_updated_at = COALESCE(v.updated_at, t.remote_updated_at),
                    synced_at = %s,
                    sync_error = v.error,{" wire_digest = v.digest," if digested else ""}
                    sync_state = CASE
                        WHEN v.state IS NOT NULL THEN v.state
                        WHEN t.sync_state = %s THEN t.sync_state
                        WHEN EXISTS (
                            SELECT 1 FROM {outbox} o
                            WHERE o.object_type = %s AND o.object_id = t.{pk} AND o.state = %s
                        ) THEN %s
                        WHEN EXISTS (
                            SELECT 1 FROM {outbox} o
                            WHERE o.object_type = %s AND o.object_id = t.{pk} AND o.state = %s
                        ) THEN %s
                        ELSE %s END
                FROM jsonb_to_recordset(%s::jsonb) AS v(
                    id bigint, remote_id text, snapshot jsonb, updated_at timestamptz, error text, state text,
                    digest bigint
                )
                WHERE t.{pk} = v.id
                """,  # noqa: S608
                [
                    now,
                    SyncState.CONFLICT,
                    label,
                    OutboxEntry.State.PENDING,
                    SyncState.PENDING,
                    label,
                    OutboxEntry.State.DEAD,
                    SyncState.ERROR,
                    SyncState.SYNCED,
                    rows_json,
                ],
            )
        return
    objects = {obj.pk: obj for obj in records(model, [r.pk for r in rows])}
    waiting = dict(
        OutboxEntry.objects.filter(
            object_type=label,
            object_id__in=list(objects),
            state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.DEAD],
        )
        .order_by("state")  # "pending" after "dead": a pending entry says more
        .values_list("object_id", "state")
    )
    changed = []
    for row in rows:
        obj = objects.get(row.pk)
        if obj is None:
            continue
        obj.remote_id = row.remote_id or obj.remote_id
        obj.synced_snapshot = row.snapshot
        obj.remote_updated_at = row.remote_updated_at or obj.remote_updated_at
        obj.synced_at = now
        obj.sync_error = row.error
        if digested:
            obj.wire_digest = row.digest
        if row.state is not None:
            obj.sync_state = row.state
        elif obj.sync_state != SyncState.CONFLICT:
            obj.sync_state = {
                OutboxEntry.State.PENDING: SyncState.PENDING,
                OutboxEntry.State.DEAD: SyncState.ERROR,
            }.get(waiting.get(obj.pk), SyncState.SYNCED)
        changed.append(obj)
    fields = [*RECORD_FIELDS, "wire_digest"] if digested else RECORD_FIELDS
    record_model(model)._default_manager.bulk_update(changed, fields, batch_size=500)


def keeps_digest(model: type[SyncedModel]) -> bool:
    """Whether ``model``'s sync records keep a digest of Userbot's object (``wire_digest``)."""
    return any(f.name == "wire_digest" for f in record_model(model)._meta.concrete_fields)


def any_of(ids: Sequence[Any], sql_type: str = "bigint") -> Any:
    """What ``pk__in=`` (or ``<fk>_id__in=``, or ``remote_id__in=`` with ``sql_type`` "text")
    takes for many values: on PostgreSQL one array parameter unnested by the server, where a
    list is thousands of parameters to compile and adapt one by one."""
    if connection.vendor == "postgresql":
        return RawSQL(_UNNEST[sql_type], [list(ids)])  # noqa: S611 - one of two constant statements
    return list(ids)


_UNNEST = {sql_type: f"SELECT unnest(%s::{sql_type}[])" for sql_type in ("bigint", "text")}


def _held_by(worker: str, statement: str, ids: Sequence[int], params: Sequence[Any]) -> set[int]:
    """Run ``statement`` (a DELETE or an UPDATE of the outbox, up to its ``WHERE``) on those of
    ``ids`` that ``worker`` still holds in flight, and return their ids."""
    if not ids:
        return set()
    held: set[int] = set()
    with connection.cursor() as cursor:
        for where, id_params in _id_filters(ids):
            cursor.execute(
                f"{statement.format(table=OutboxEntry._meta.db_table)} {where}"
                " AND claimed_by = %s AND state = %s RETURNING id",
                [*params, *id_params, worker, InFlight],
            )
            held.update(row[0] for row in cursor.fetchall())
    return held


def _id_filters(ids: Sequence[int]) -> list[tuple[str, list[Any]]]:
    """``id`` conditions for many ids: one array parameter on PostgreSQL, chunks elsewhere."""
    if connection.vendor == "postgresql":
        return [("id = ANY(%s)", [list(ids)])]
    chunks = [list(ids[start : start + 500]) for start in range(0, len(ids), 500)]
    return [(f"id IN ({', '.join(['%s'] * len(chunk))})", chunk) for chunk in chunks]


def complete_held(ids: Sequence[int], worker: str) -> set[int]:
    """Delete the entries that ``worker`` still holds in flight; returns their ids.

    The compare-and-set of completing a change: a relay whose lease ran out, and whose
    entries another relay has taken since, deletes nothing (the ids it is not given back
    say so), and rows deleted stay locked until the caller's transaction ends.
    """
    return _held_by(worker, "DELETE FROM {table} WHERE", ids, [])


def hold(ids: Sequence[int], worker: str, *, now: datetime) -> set[int]:
    """Renew the claim of the entries that ``worker`` still holds in flight (their lease
    starts again at ``now``); returns their ids, locked until the caller's transaction ends."""
    return _held_by(worker, "UPDATE {table} SET claimed_at = %s WHERE", ids, [now])


def delete_entries(ids: Sequence[int]) -> None:
    """Delete outbox entries by id, as one array parameter however many there are."""
    if not ids:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {OutboxEntry._meta.db_table} WHERE id = ANY(%s)", [list(ids)])  # noqa: S608
        return
    for start in range(0, len(ids), 500):
        OutboxEntry.objects.filter(id__in=ids[start : start + 500]).delete()


def has_pending(model: type[SyncedModel]) -> Any:
    """An ``Exists`` that an object has a pending or in-flight outbox entry."""
    return Exists(
        OutboxEntry.objects.filter(
            object_type=model._meta.label_lower,
            object_id=OuterRef("pk"),
            state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT],
        )
    )
