"""Objects Userbot no longer has: one rule for every kind and every path (a scan, an event).

By the bot's remote-delete policy such an object is deleted here too, or kept and flagged.
An object with a change made here that has not reached Userbot (waiting in the outbox, in
the dead-letter list, or in conflict) is not settled in silence: unless the bot's conflict
policy says Userbot wins, the deletion becomes an open conflict that an operator settles
by restoring the object on Userbot or accepting the delete. Under "Userbot wins" the
deletion goes ahead, and the change it overrode is kept as a conflict closed by it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from backoffice.audit import record_many
from backoffice.sync.kinds import kind_for
from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict, SyncState, records, with_records
from backoffice.sync.reconcile import Outcome, decide_gone

DELETED_FIELD = "(deleted on Userbot)"
KEPT_MESSAGE = "Deleted on Userbot; kept here by the bot's policy."
ASKED_MESSAGE = (
    "Deleted on Userbot while a change made here waited to be sent: restore it on Userbot or "
    "accept the delete (see its conflict)."
)
Open = SyncConflict.Resolution.OPEN
CHUNK = 1000


def objects_gone(*, label: str, bot_sync: BotSync, pks: Sequence[int], actor: Any) -> Counter[str]:
    """Settle objects of kind ``label`` that Userbot no longer has; returns how many were
    ``deleted``, ``kept`` (flagged, by the remote-delete policy) and ``asked`` (left to an
    operator as an open conflict)."""
    counts: Counter[str] = Counter()
    for start in range(0, len(pks), CHUNK):
        with transaction.atomic():
            counts.update(_settle(label, bot_sync, list(pks[start : start + CHUNK]), actor))
    return counts


def _settle(label: str, bot_sync: BotSync, pks: list[int], actor: Any) -> Counter[str]:
    kind = kind_for(label)
    model = kind.model
    waiting = OutboxEntry.objects.filter(object_type=label, object_id__in=pks, deleted=False)
    # Entries before objects, the order a relay's completion locks them in.
    changed_here = set(waiting.select_for_update().values_list("object_id", flat=True))
    objects = list(
        with_records(model.objects.select_for_update(of=("self",)).filter(pk__in=pks).order_by("pk"))
    )
    changed_here |= {o.pk for o in objects if o.sync_state == SyncState.CONFLICT}
    asked_already = set(
        SyncConflict.objects.filter(
            object_type=label, object_id__in=pks, field=DELETED_FIELD, resolution=Open
        ).values_list("object_id", flat=True)
    )
    objects = [o for o in objects if o.pk not in asked_already]
    fate = {o.pk: decide_gone(changed_here=o.pk in changed_here, bot_sync=bot_sync) for o in objects}
    ask = [o for o in objects if fate[o.pk] is Outcome.ASK]
    settled = [o for o in objects if fate[o.pk] is not Outcome.ASK]
    now = timezone.now()
    counts: Counter[str] = Counter()
    if ask:
        _ask(kind, bot_sync.bot_id, ask, actor, now)
        counts["asked"] = len(ask)
    if bot_sync.on_remote_delete == BotSync.RemoteDeletePolicy.KEEP:
        settled = [
            o for o in settled if not (o.sync_state == SyncState.ERROR and o.sync_error == KEPT_MESSAGE)
        ]
    SyncConflict.objects.bulk_create(
        _deletion_conflict(kind, bot_sync.bot_id, o, SyncConflict.Resolution.GONE, now)
        for o in settled
        if o.pk in changed_here
    )
    counts.update(_delete_or_keep(kind, bot_sync.on_remote_delete, settled, actor, now))
    return counts


def object_delete_accepted(*, obj: Any, bot_sync: BotSync, actor: Any) -> None:
    """An operator accepts that Userbot deleted ``obj``: the bot's remote-delete policy
    applies to it as to any other (deleted here, or kept flagged)."""
    _delete_or_keep(kind_for(obj._meta.label_lower), bot_sync.on_remote_delete, [obj], actor, timezone.now())


def _delete_or_keep(kind: Any, policy: str, objects: list[Any], actor: Any, now: Any) -> Counter[str]:
    """Apply the remote-delete policy: delete here, or keep flagged. What waited to be sent
    for them goes either way (there is nothing left on Userbot to send it to), and their
    open conflicts close as settled by the deletion."""
    if not objects:
        return Counter()
    label, pks = kind.label, [o.pk for o in objects]
    OutboxEntry.objects.filter(object_type=label, object_id__in=pks, deleted=False).delete()
    SyncConflict.objects.filter(object_type=label, object_id__in=pks, resolution=Open).update(
        resolution=SyncConflict.Resolution.GONE, resolved_at=now
    )
    if policy == BotSync.RemoteDeletePolicy.KEEP:
        # No longer "last synced": a later scan does not take it for newly deleted.
        records(kind.model, pks).update(sync_state=SyncState.ERROR, sync_error=KEPT_MESSAGE, synced_at=None)
        record_many(actor=actor, objects=objects, action="change", message="Deleted on Userbot; kept here")
        return Counter(kept=len(objects))
    record_many(actor=actor, objects=objects, action="delete", message="Deleted on Userbot")
    kind.model.objects.filter(pk__in=pks).delete()
    return Counter(deleted=len(objects))


def _ask(kind: Any, bot_id: int, objects: list[Any], actor: Any, now: Any) -> None:
    """Open a deletion conflict on each object; the conflicts of its fields close, since the
    operator now decides the object's whole fate (a restore sends it as it is here)."""
    label = kind.label
    pks = [o.pk for o in objects]
    SyncConflict.objects.filter(object_type=label, object_id__in=pks, resolution=Open).update(
        resolution=SyncConflict.Resolution.GONE, resolved_at=now
    )
    docs = kind.local_docs(objects)
    SyncConflict.objects.bulk_create(
        _deletion_conflict(kind, bot_id, o, Open, now, local=docs.get(o.pk)) for o in objects
    )
    records(kind.model, pks).update(sync_state=SyncState.CONFLICT, sync_error=ASKED_MESSAGE)
    record_many(
        actor=actor,
        objects=objects,
        action="change",
        message="Deleted on Userbot while a change here waited: restore it or accept the delete",
    )


def _deletion_conflict(
    kind: Any, bot_id: int, obj: Any, resolution: str, now: Any, *, local: Any = None
) -> SyncConflict:
    return SyncConflict(
        bot_id=bot_id,
        object_type=kind.label,
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        field=DELETED_FIELD,
        base_value=obj.synced_snapshot,
        local_value=local,
        remote_value=None,
        resolution=resolution,
        resolved_at=None if resolution == Open else now,
    )
