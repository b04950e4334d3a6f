"""Recording local changes for the relay, in the caller's transaction.

Every service that changes a mirrored object calls ``mark_changed`` (or
``mark_deleted``) inside its own ``transaction.atomic`` block, so the change and the
promise to push it commit together or not at all. Changes applied *from* Userbot never
call these: that is what keeps the sync from echoing Userbot's own changes back.

One write path marks changes, whoever changes what: a service's one object, a bulk
action's chunk, an import's thousands of ids all reach ``mark_changed_ids``, two set-based
statements and a wake of the relay on commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import NOT_PROVIDED
from django.utils import timezone

from backoffice.sync.models import OutboxEntry, SyncedModel, SyncState, loaded_record, record_model, records
from backoffice.sync.tasks import wake


def _label(obj: SyncedModel) -> str:
    return obj._meta.label_lower


def wake_relay(bot_ids: Iterable[int]) -> None:
    """Once the caller's transaction commits, wake the relay for these bots (the periodic
    sweep pushes anyway: this only makes it prompt)."""
    if not settings.SYNC_WAKE_ON_COMMIT:
        return
    for bot_id in set(bot_ids):
        transaction.on_commit(lambda bot_id=bot_id: wake(bot_id), robust=True)


def mark_changed(objects: Iterable[SyncedModel]) -> int:
    """Queue the given objects for a push and flag them pending; returns how many."""
    objects = list(objects)
    by_model_and_bot: dict[tuple[type[SyncedModel], int], list[int]] = {}
    for obj in objects:
        # A conflict stays a conflict until an operator resolves it, here as in the database;
        # a record not read with its object is left to the statement.
        record = loaded_record(obj)
        if record is not None and record.sync_state != SyncState.CONFLICT:
            record.sync_state = SyncState.PENDING
        by_model_and_bot.setdefault((type(obj), obj.bot_id), []).append(obj.pk)
    for (model, bot_id), pks in by_model_and_bot.items():
        mark_changed_ids(model, bot_id, pks)
    return len(objects)


def mark_changed_ids(model: type[SyncedModel], bot_id: int, ids: Sequence[int]) -> int:
    """Queue the objects of ``model`` with these ids, all of bot ``bot_id``, for a push and
    flag them pending, in two statements however many they are; the relay is woken once the
    caller's transaction commits. Returns how many ids were given.

    An object keeps the pending entry it may have (the outbox holds one per object, so
    edits before a push coalesce), and a conflict stays a conflict until an operator
    resolves it."""
    if not ids:
        return 0
    ids = list(ids)
    meta = record_model(model)._meta
    table, pk = meta.db_table, meta.pk.column
    if connection.vendor == "postgresql":
        # Ids as one array: thousands of parameters cost more to send than to look up.
        source, among, given = "unnest(%s::bigint[]) AS changed(id)", f"{pk} = ANY(%s)", ids
    else:
        source = "(SELECT value AS id FROM json_each(%s)) AS changed"
        among = f"{pk} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        given = orjson.dumps(ids).decode()
    insert, params = _queue_statement(model, bot_id, source)
    with connection.cursor() as cursor:
        cursor.execute(insert, [*params, given])
        cursor.execute(
            f"UPDATE {table} SET sync_state = %s WHERE {among} AND sync_state NOT IN (%s, %s)",  # noqa: S608
            [SyncState.PENDING, given, SyncState.PENDING, SyncState.CONFLICT],
        )
    wake_relay([bot_id])
    return len(ids)


def _queue_statement(model: type[SyncedModel], bot_id: int, source: str) -> tuple[str, list[Any]]:
    """The ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` that gives each object of
    ``model`` whose id the FROM item ``source`` yields (as its column ``id``, from
    parameters that follow the returned ones) a pending outbox entry, unless it has one.

    Columns the statement does not name take the model's defaults, so a field the engine
    adds with a default is filled as ``OutboxEntry.objects.create`` would fill it."""
    given = {"id", "bot", "object_type", "object_id", "state", "created_at", "updated_at"}
    columns = ["bot_id", "object_type", "object_id", "state", "created_at", "updated_at"]
    now = OutboxEntry._meta.get_field("created_at").get_db_prep_save(timezone.now(), connection)
    values: list[Any] = [bot_id, model._meta.label_lower, str(OutboxEntry.State.PENDING), now, now]
    for field in OutboxEntry._meta.concrete_fields:
        if field.name in given or field.db_default is not NOT_PROVIDED:
            continue  # named above, or left to the database's own default
        columns.append(field.column)
        values.append(field.get_db_prep_save(field.get_default(), connection))
    marks = ["%s", "%s", "id", *("%s" for _ in values[2:])]
    # ``WHERE true``: SQLite would read the ``ON`` of ``ON CONFLICT`` as a join's after a bare FROM.
    sql = (
        f"INSERT INTO {OutboxEntry._meta.db_table} ({', '.join(columns)})"  # noqa: S608
        f" SELECT {', '.join(marks)} FROM {source} WHERE true ON CONFLICT DO NOTHING"
    )
    return sql, values


def mark_deleted(objects: Iterable[SyncedModel]) -> int:
    """Queue the deletion on Userbot of objects about to be deleted locally; returns how many.

    An object without a remote id needs nothing sent if no push of it ever started; if one
    did, its create may have reached Userbot unanswered, and the relay finds it by its
    client_ref. Entries still waiting for the object are dropped: the deletion replaces them.
    """
    objects = list(objects)
    if not objects:
        return 0
    labels = {_label(obj) for obj in objects}
    # The caller's copies may predate a push that has since confirmed them: the objects'
    # entries are locked, then what Userbot holds is read again under a lock, so a relay
    # claiming or completing them meanwhile waits for this transaction, or is seen. Entries
    # before objects, the order a relay's completion locks them in, so the two never wait
    # for each other in a circle.
    own = list(
        OutboxEntry.objects.select_for_update()
        .filter(object_type__in=labels, object_id__in=[obj.pk for obj in objects])
        .values_list("id", "object_type", "object_id", "state", "attempts")
    )
    remote_ids: dict[tuple[str, int], str | None] = {}
    by_model: dict[type[SyncedModel], list[int]] = {}
    for obj in objects:
        by_model.setdefault(type(obj), []).append(obj.pk)
    for model, pks in by_model.items():
        for pk, remote_id in records(model, pks).select_for_update().values_list("pk", "remote_id"):
            remote_ids[(model._meta.label_lower, pk)] = remote_id
    tried = {
        (label, pk) for _, label, pk, state, attempts in own if state != OutboxEntry.State.PENDING or attempts
    }
    entries = []
    for obj in objects:
        key = (_label(obj), obj.pk)
        remote_id = remote_ids[key] if key in remote_ids else getattr(loaded_record(obj), "remote_id", None)
        if remote_id or key in tried:
            entries.append(
                OutboxEntry(
                    bot_id=obj.bot_id,
                    object_type=key[0],
                    object_id=obj.pk,
                    deleted=True,
                    remote_id=remote_id or "",
                    client_ref=obj.client_ref,
                )
            )
    waiting = [i for i, _, _, state, _ in own if state in (OutboxEntry.State.PENDING, OutboxEntry.State.DEAD)]
    OutboxEntry.objects.filter(id__in=waiting).delete()
    OutboxEntry.objects.bulk_create(entries)
    wake_relay(e.bot_id for e in entries)
    return len(entries)
