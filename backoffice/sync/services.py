"""What an operator does to the sync: settle conflicts, revive or drop dead letters, push or
pull a bot now, re-push chosen objects.

Each write is atomic and recorded in the history under the operator who made it, like
every other local write; the objects' own outbox entries follow the same rules as the
relay's (one pending entry per object, an object in conflict stays parked).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from backoffice.audit import record, record_many
from backoffice.operations.progress import Progress, in_chunks
from backoffice.sync import tasks
from backoffice.sync.gone import DELETED_FIELD, object_delete_accepted
from backoffice.sync.kinds import SyncKind, kind_for
from backoffice.sync.models import (
    BotSync,
    OutboxEntry,
    SyncConflict,
    SyncedModel,
    SyncState,
    records,
    with_records,
)
from backoffice.sync.outbox import mark_changed, mark_deleted, wake_relay
from backoffice.userbot.models import Bot

Open = SyncConflict.Resolution.OPEN
BOT_SYNC_FIELDS = ("conflict_policy", "on_remote_delete", "pull_interval_s", "pull_interval_max_s")


# --- any synced object -------------------------------------------------------------------


@transaction.atomic
def object_delete(*, obj: SyncedModel, actor: AbstractBaseUser) -> None:
    """Delete a synced object here, recorded in its history, and queue its deletion on
    Userbot (what hangs on it goes with it, as its foreign keys say)."""
    record(actor=actor, obj=obj, action="delete", message="Deleted")
    mark_deleted([obj])
    obj.delete()


# --- the sync page of a bot -------------------------------------------------------------


def bot_syncs_create_missing() -> int:
    """Give every bot that has none its sync settings (the defaults); returns how many.

    The bot's sync page lists ``BotSync`` rows, and a bot the engine never ran for has none
    yet: the list makes them first, in two statements whatever the number of bots.
    """
    missing = list(Bot.objects.filter(sync__isnull=True).values_list("pk", flat=True))
    if missing:
        BotSync.objects.bulk_create([BotSync(bot_id=pk) for pk in missing], ignore_conflicts=True)
    return len(missing)


@transaction.atomic
def bot_sync_update(*, bot_sync: BotSync, actor: AbstractBaseUser, **changes: Any) -> list[str]:
    """Set the bot's sync policies; saves and audits only what really changed."""
    unknown = set(changes) - set(BOT_SYNC_FIELDS)
    if unknown:
        raise TypeError(f"bot_sync_update cannot set {', '.join(sorted(unknown))}")
    changed = [field for field, value in changes.items() if getattr(bot_sync, field) != value]
    if not changed:
        return []
    for field in changed:
        setattr(bot_sync, field, changes[field])
    bot_sync.full_clean()
    bot_sync.save(update_fields=changed)
    record(actor=actor, obj=bot_sync, action="change", message=f"Changed {', '.join(changed)}")
    return changed


def sync_push_now(*, bot: Bot) -> None:
    """Queue a push of the bot's due outbox entries once the caller's transaction commits."""
    transaction.on_commit(lambda: tasks.push.delay(bot.pk))


def objects_push_now(
    *, objects: QuerySet[Any], actor: AbstractBaseUser, progress: Progress | None = None
) -> int:
    """Queue the objects for a push whatever their state (an errored one included); returns how many.

    Their dead entries go: the new pending entry pushes the object as it is now, which is
    all a dead entry could have sent. An object in conflict stays parked until resolved.
    """
    label = objects.model._meta.label_lower
    pushed = 0

    def push(chunk: list[Any]) -> None:
        nonlocal pushed
        _drop_dead(label, [obj.pk for obj in chunk])
        pushed += mark_changed(chunk)
        record_many(actor=actor, objects=chunk, action="change", message="Push to Userbot requested")

    in_chunks(objects, push, progress=progress)
    return pushed


def _drop_dead(label: str, pks: list[int]) -> None:
    """The objects' dead changes (not deletions), which a push of them as they are now covers."""
    OutboxEntry.objects.filter(
        object_type=label, object_id__in=pks, state=OutboxEntry.State.DEAD, deleted=False
    ).delete()


# --- conflicts --------------------------------------------------------------------------


def conflict_keep_ours(*, conflict: SyncConflict, actor: AbstractBaseUser) -> SyncConflict:
    """Settle the conflict with the value we hold: it is pushed to Userbot once the object has
    no other open conflict (the object's snapshot holds Userbot's value, so the relay sends ours).

    Raises ValidationError if the conflict is no longer open.
    """
    return _resolve(conflict, actor, SyncConflict.Resolution.OURS)


def conflict_take_theirs(*, conflict: SyncConflict, actor: AbstractBaseUser) -> SyncConflict:
    """Settle the conflict with Userbot's value, set here without queueing a push; an object
    left equal to what both sides agreed on is synced, and its parked entry goes.

    Raises ValidationError if the conflict is no longer open, or if the value cannot be set
    here (another object of the bot holds it).
    """
    return _resolve(conflict, actor, SyncConflict.Resolution.THEIRS)


def conflicts_resolve(*, conflicts: Iterable[SyncConflict], resolution: str, actor: AbstractBaseUser) -> int:
    """Keep ours or take theirs on each open conflict given; returns how many were resolved
    (one already resolved, by someone else meanwhile, is left as it is)."""
    resolve = {
        SyncConflict.Resolution.OURS: conflict_keep_ours,
        SyncConflict.Resolution.THEIRS: conflict_take_theirs,
    }[resolution]
    resolved = 0
    for conflict in conflicts:
        if conflict.resolution != Open:
            continue
        try:
            resolve(conflict=conflict, actor=actor)
        except ValidationError:
            continue
        resolved += 1
    return resolved


@transaction.atomic
def _resolve(conflict: SyncConflict, actor: AbstractBaseUser, resolution: str) -> SyncConflict:
    # The row lock makes two operators who click at once resolve the conflict once.
    locked = SyncConflict.objects.select_for_update().filter(pk=conflict.pk, resolution=Open).first()
    if locked is None:
        raise ValidationError("This conflict is no longer open: someone or something resolved it already.")
    kind = kind_for(locked.object_type)
    obj = with_records(kind.model.objects.select_for_update(of=("self",)).filter(pk=locked.object_id)).first()
    if obj is None:
        # Deleted here since: nothing is left to keep or to take, only the trace to close.
        resolution = SyncConflict.Resolution.GONE
    elif locked.field == DELETED_FIELD:
        return _decide_deletion(kind, obj, locked, conflict, resolution, actor)
    elif resolution == SyncConflict.Resolution.THEIRS:
        try:
            with transaction.atomic():
                kind.set_local(obj, {locked.field: locked.remote_value})
        except IntegrityError as error:
            # Userbot's email or phone may be held here by another object of the bot.
            raise ValidationError(
                f"Userbot's value of “{locked.field}” cannot be set here: another "
                f"{obj._meta.verbose_name} of the bot holds it."
            ) from error
    locked.resolution = resolution
    locked.resolved_at = timezone.now()
    locked.resolved_by = actor
    locked.save(update_fields=["resolution", "resolved_at", "resolved_by"])
    _copy_resolution(locked, conflict)
    if obj is None:
        record(actor=actor, obj=locked, action="change", message="Closed: the object was deleted here")
        return conflict
    side = "kept ours" if resolution == SyncConflict.Resolution.OURS else "took Userbot's value"
    record(
        actor=actor,
        obj=obj,
        action="change",
        message=f"Conflict on {locked.field}: {side} ({_shown(locked.local_value)} here, "
        f"{_shown(locked.remote_value)} on Userbot)",
    )
    _settle(kind, obj)
    return conflict


def _decide_deletion(
    kind: SyncKind,
    obj: SyncedModel,
    locked: SyncConflict,
    conflict: SyncConflict,
    resolution: str,
    actor: AbstractBaseUser,
) -> SyncConflict:
    """Userbot deleted an object that had a change waiting here. Keeping ours restores it
    on Userbot: it is sent again as new, as it is here (Userbot freed its client_ref when it
    deleted it, so the create makes a new object). Taking theirs accepts the delete, and the
    bot's remote-delete policy deletes the object here or keeps it flagged."""
    locked.resolution, locked.resolved_at, locked.resolved_by = resolution, timezone.now(), actor
    locked.save(update_fields=["resolution", "resolved_at", "resolved_by"])
    _copy_resolution(locked, conflict)
    if resolution == SyncConflict.Resolution.THEIRS:
        object_delete_accepted(obj=obj, bot_sync=BotSync.objects.get(bot_id=obj.bot_id), actor=actor)
        return conflict
    records(type(obj), [obj.pk]).update(
        remote_id=None, synced_snapshot=None, remote_updated_at=None, synced_at=None
    )
    obj.remote_id = obj.synced_snapshot = obj.remote_updated_at = obj.synced_at = None
    obj.sync_error = ""
    record(actor=actor, obj=obj, action="change", message="Deleted on Userbot: restored there as it is here")
    _settle(kind, obj)
    return conflict


def _copy_resolution(source: SyncConflict, target: SyncConflict) -> None:
    target.resolution, target.resolved_at, target.resolved_by = (
        source.resolution,
        source.resolved_at,
        source.resolved_by,
    )


def _shown(value: Any) -> str:
    return "not set" if value is None else repr(value)


def _settle(kind: SyncKind, obj: SyncedModel) -> None:
    """Once an object has no open conflict, it is synced if it holds what both sides agreed
    on, and otherwise pending with its parked entry woken (or a new one).

    A dead entry of the object goes either way: the relay sends the object as it is now,
    which is all a dead entry could have sent, and a dead entry left behind would show the
    object in error after the next push or pull.
    """
    label = obj._meta.label_lower
    if SyncConflict.objects.filter(object_type=label, object_id=obj.pk, resolution=Open).exists():
        return
    _drop_dead(label, [obj.pk])
    waiting = OutboxEntry.objects.filter(
        object_type=label, object_id=obj.pk, state=OutboxEntry.State.PENDING, deleted=False
    )
    if kind.local_docs([obj]).get(obj.pk) == obj.synced_snapshot:
        waiting.delete()
        _set_state(obj, SyncState.SYNCED, error="")
        return
    _set_state(obj, SyncState.PENDING, error=obj.sync_error)
    if waiting.update(next_attempt_at=None):
        wake_relay([obj.bot_id])
    else:
        mark_changed([obj])


def _set_state(obj: SyncedModel, state: str, *, error: str) -> None:
    records(type(obj), [obj.pk]).update(sync_state=state, sync_error=error)
    obj.sync_state, obj.sync_error = state, error


# --- dead letters -----------------------------------------------------------------------


def _dead(entry: OutboxEntry) -> OutboxEntry:
    locked = OutboxEntry.objects.select_for_update().filter(pk=entry.pk, state=OutboxEntry.State.DEAD).first()
    if locked is None:
        raise ValidationError("This entry is no longer in the dead-letter list.")
    return locked


def _object_of(entry: OutboxEntry) -> SyncedModel | None:
    if entry.deleted:
        return None
    return kind_for(entry.object_type).model.objects.filter(pk=entry.object_id).first()


@transaction.atomic
def outbox_entry_retry(*, entry: OutboxEntry, actor: AbstractBaseUser) -> OutboxEntry:
    """Put a dead entry back in the queue, due now, its attempts kept; returns the pending entry
    that now carries the object (the object's own, if it already had one: the dead one goes,
    since the relay pushes the object as it is now). Raises ValidationError if not dead."""
    dead = _dead(entry)
    obj = _object_of(dead)
    pending = OutboxEntry.objects.filter(
        object_type=dead.object_type, object_id=dead.object_id, state=OutboxEntry.State.PENDING
    ).first()
    if pending is None:
        try:
            with transaction.atomic():
                OutboxEntry.objects.filter(pk=dead.pk).update(
                    state=OutboxEntry.State.PENDING, next_attempt_at=None, claimed_by="", claimed_at=None
                )
        except IntegrityError:
            # A local edit queued the object between the lookup and the update.
            pending = OutboxEntry.objects.get(
                object_type=dead.object_type, object_id=dead.object_id, state=OutboxEntry.State.PENDING
            )
    if pending is not None:
        dead.delete()
    else:
        dead.refresh_from_db()
        pending = dead
    if obj is not None:
        # An errored object now has a push waiting; one in conflict stays in conflict.
        records(type(obj), [obj.pk]).filter(sync_state=SyncState.ERROR).update(sync_state=SyncState.PENDING)
    record(
        actor=actor,
        obj=obj if obj is not None else pending,
        action="change",
        message=f"Push retried after {dead.attempts} failed attempt{'s' if dead.attempts != 1 else ''}: "
        f"{dead.last_error}",
    )
    wake_relay([dead.bot_id])
    return pending


@transaction.atomic
def outbox_entry_ignore(*, entry: OutboxEntry, actor: AbstractBaseUser) -> None:
    """Drop a dead entry: the change it carried is not sent. The object stays in error, its
    last error saying who gave up on it and when. Raises ValidationError if not dead."""
    dead = _dead(entry)
    obj = _object_of(dead)
    when = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    note = f"Ignored by {actor.get_username()} on {when}: {dead.last_error}"
    if obj is not None:
        # Only an object still in error: one pushed again since is past this error.
        records(type(obj), [obj.pk]).filter(sync_state=SyncState.ERROR).update(sync_error=note)
    record(
        actor=actor,
        obj=obj if obj is not None else dead,
        action="change",
        message=f"Dead {'deletion' if dead.deleted else 'push'} ignored: {dead.last_error}",
    )
    dead.delete()
