"""Recording local changes for the relay, in the caller's transaction.

Every service that changes a mirrored object calls ``mark_changed`` (or
``mark_deleted``) inside its own ``transaction.atomic`` block, so the change and the
promise to push it commit together or not at all. Changes applied *from* Userbot never
call these: that is what keeps the sync from echoing Userbot's own changes back.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from backoffice.sync.models import OutboxEntry, SyncedModel, SyncState


def _label(obj: SyncedModel) -> str:
    return obj._meta.label_lower


def wake_relay(bot_ids: Iterable[int]) -> None:
    """Once the caller's transaction commits, wake the relay for these bots (the periodic
    sweep pushes anyway: this only makes it prompt)."""
    if not settings.SYNC_WAKE_ON_COMMIT:
        return
    from backoffice.sync.tasks import wake

    for bot_id in set(bot_ids):
        transaction.on_commit(lambda bot_id=bot_id: wake(bot_id), robust=True)


def mark_changed(objects: Iterable[SyncedModel]) -> int:
    """Queue the given objects for a push and flag them pending; returns how many."""
    objects = list(objects)
    if not objects:
        return 0
    OutboxEntry.objects.bulk_create(
        [OutboxEntry(bot_id=obj.bot_id, object_type=_label(obj), object_id=obj.pk) for obj in objects],
        ignore_conflicts=True,  # an object already pending stays one entry: edits coalesce
    )
    by_model: dict[type[SyncedModel], list[int]] = {}
    for obj in objects:
        # A conflict stays a conflict until an operator resolves it, here as in the database.
        if obj.sync_state != SyncState.CONFLICT:
            obj.sync_state = SyncState.PENDING
        by_model.setdefault(type(obj), []).append(obj.pk)
    for model, pks in by_model.items():
        model.objects.filter(pk__in=pks).exclude(sync_state=SyncState.CONFLICT).update(
            sync_state=SyncState.PENDING
        )
    wake_relay(obj.bot_id for obj in objects)
    return len(objects)


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
        for pk, remote_id in (
            model.objects.select_for_update().filter(pk__in=pks).values_list("pk", "remote_id")
        ):
            remote_ids[(model._meta.label_lower, pk)] = remote_id
    tried = {
        (label, pk) for _, label, pk, state, attempts in own if state != OutboxEntry.State.PENDING or attempts
    }
    entries = []
    for obj in objects:
        key = (_label(obj), obj.pk)
        remote_id = remote_ids.get(key, obj.remote_id)
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
