"""Recording local changes for the relay, in the caller's transaction.

Every service that changes a mirrored object calls ``mark_changed`` (or
``mark_deleted``) inside its own ``transaction.atomic`` block, so the change and the
promise to push it commit together or not at all. Changes applied *from* Userbot never
call these: that is what keeps the sync from echoing Userbot's own changes back.
"""

from __future__ import annotations

from collections.abc import Iterable

from backoffice.sync.models import OutboxEntry, SyncedModel, SyncState


def _label(obj: SyncedModel) -> str:
    return obj._meta.label_lower


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
    return len(objects)


def mark_deleted(objects: Iterable[SyncedModel]) -> int:
    """Queue the deletion on Userbot of objects about to be deleted locally.

    Objects never created on Userbot (no remote id) need nothing sent, unless a create
    may be in flight for them, which the relay resolves through their client_ref.
    """
    entries = [
        OutboxEntry(
            bot_id=obj.bot_id,
            object_type=_label(obj),
            object_id=obj.pk,
            deleted=True,
            remote_id=obj.remote_id or "",
            client_ref=obj.client_ref,
        )
        for obj in objects
    ]
    OutboxEntry.objects.filter(
        object_type__in={e.object_type for e in entries},
        object_id__in=[e.object_id for e in entries],
        state=OutboxEntry.State.PENDING,
    ).delete()
    OutboxEntry.objects.bulk_create(entries)
    return len(entries)
