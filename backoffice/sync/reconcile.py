"""The one decision of the sync: what becomes of an object when Userbot's copy of it is met.

Every path that meets Userbot's copy asks here, for every kind: a pull of a list, the chat
users' scan, an event's refresh (``decide``), a push that reads Userbot's copy before it
updates (``decide_push``), and an object Userbot no longer has (``decide_gone``). The
callers only read and write; what an object becomes is never decided anywhere else.

``Outcome`` names the answers. ``Settled`` gathers what a batch of decisions leaves to
write (the bookkeeping, the conflicts, the history, the run's counts) and writes it in one
go, the same way for every kind.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from backoffice.audit import record_many
from backoffice.sync import db
from backoffice.sync.actor import sync_actor
from backoffice.sync.conflicts import prefer_for, record_conflicts
from backoffice.sync.merge import Conflict, Doc, changed_keys, three_way
from backoffice.sync.models import BotSync, SyncState
from backoffice.sync.untrusted import keep_ours
from backoffice.userbot.schema import Rejected

if TYPE_CHECKING:
    from backoffice.sync.kinds import PullContext
    from backoffice.sync.models import SyncedModel


class Outcome(StrEnum):
    CREATE = "create"  # nothing here yet: Userbot's object is mirrored as it is
    SAME = "same"  # Userbot holds what was last synced (an echo of our push): only bookkeeping
    TAKE = "take"  # changed on Userbot, nothing waiting here: Userbot's copy is taken
    MERGE = "merge"  # changed on both sides, different fields (or the bot's policy chose)
    CONFLICT = "conflict"  # the same field changed on both sides: an operator decides
    SEND = "send"  # a push goes ahead, with ``doc`` as the body
    HOLD = "hold"  # a push waits: Userbot changed the same field; a pull settles it first
    DELETE = "delete"  # gone from Userbot: deleted here too
    KEEP = "keep"  # gone from Userbot: kept here, flagged, by the bot's remote-delete policy
    ASK = "ask"  # gone from Userbot while a change here waited: an operator decides


@dataclass(frozen=True)
class Here:
    """What the sync knows of an object here: the document last synced, whether a change made
    here waits to be sent, whether Userbot's object is our own create whose answer was lost,
    and the document now (read only when a change waits: otherwise it is the snapshot)."""

    snapshot: Doc | None
    pending: bool
    own_create: bool = False
    doc: Doc | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    doc: Doc | None = None  # what the object holds after (for a push: what to send)
    conflicts: tuple[Conflict, ...] = ()

    @property
    def state(self) -> str | None:
        """The sync state the outcome forces, or None for "whatever the outbox says"."""
        return SyncState.CONFLICT if self.outcome is Outcome.CONFLICT else None


def decide(here: Here | None, remote: Doc, *, prefer: str | None) -> Decision:
    """What an object becomes when a pull, a scan or an event meets Userbot's ``remote`` copy.

    ``prefer`` is the bot's conflict policy as ``three_way`` takes it ("local", "remote", or
    None for an operator to decide)."""
    if here is None:
        return Decision(Outcome.CREATE, remote)
    if remote == here.snapshot:
        return Decision(Outcome.SAME)
    if not here.pending:
        return Decision(Outcome.TAKE, remote)
    if here.doc is None:
        raise ValueError("an object with a change waiting here needs its document to merge")
    # Our create whose answer was lost: Userbot holds what we sent, so what differs since is
    # ours. Without a snapshot otherwise (an object adopted by its email), every difference
    # is a conflict.
    base = remote if here.own_create else here.snapshot
    merge = three_way(base, here.doc, remote, prefer=prefer)
    if merge.conflicts and prefer is None:
        return Decision(Outcome.CONFLICT, merge.doc, tuple(merge.conflicts))
    return Decision(Outcome.MERGE, merge.doc, tuple(merge.conflicts))


def decide_push(*, snapshot: Doc | None, local: Doc, remote: Doc) -> Decision:
    """Whether a push of ``local`` goes ahead when Userbot's copy now reads ``remote``: a field
    Userbot changed since ``snapshot`` is carried as Userbot has it (never overwritten with a
    stale copy), and a field changed on both sides holds the push for the pull to settle
    under the bot's policy."""
    base = snapshot or {}
    if remote == base:
        return Decision(Outcome.SEND, local)
    merge = three_way(base, local, remote, prefer=None)
    if merge.conflicts:
        return Decision(Outcome.HOLD, None, tuple(merge.conflicts))
    return Decision(Outcome.SEND, merge.doc)


def decide_gone(*, changed_here: bool, bot_sync: BotSync) -> Outcome:
    """What becomes of an object Userbot no longer has. A change made here that has not
    reached Userbot is not dropped in silence: unless the bot's conflict policy says Userbot
    wins, an operator decides; otherwise the remote-delete policy deletes or keeps it."""
    if changed_here and bot_sync.conflict_policy != BotSync.ConflictPolicy.REMOTE:
        return Outcome.ASK
    if bot_sync.on_remote_delete == BotSync.RemoteDeletePolicy.KEEP:
        return Outcome.KEEP
    return Outcome.DELETE


@dataclass
class Settled:
    """What a batch of decisions of one kind leaves to write, written in one go by ``write``.

    ``record`` takes each object met (its decision, Userbot's document and bookkeeping, and
    the document here before); ``refuse`` takes an object here that could not take Userbot's
    version (it keeps its values, flagged, and is looked at again by the next pull)."""

    ctx: PullContext
    label: str
    noun: str
    model: type[SyncedModel]
    rows: list[db.SyncedRow] = field(default_factory=list)
    conflicts: list[tuple[int, str, tuple[Conflict, ...]]] = field(default_factory=list)
    changed: dict[tuple[str, ...], list[Any]] = field(default_factory=lambda: defaultdict(list))
    refused: list[tuple[int, Rejected]] = field(default_factory=list)

    @property
    def prefer(self) -> str | None:
        return prefer_for(self.ctx.settings.conflict_policy)

    def record(
        self,
        obj: Any,
        decision: Decision,
        *,
        remote_id: str,
        snapshot: Doc,
        remote_updated_at: Any,
        before: Doc | None,
        digest: int | None = None,
    ) -> None:
        if decision.conflicts:
            self.conflicts.append((obj.pk, str(obj), decision.conflicts))
        if decision.doc is not None and before is not None:
            keys = changed_keys(before, decision.doc)
            if keys:
                self.changed[tuple(keys)].append(obj)
        self.rows.append(
            db.SyncedRow(
                pk=obj.pk,
                remote_id=remote_id,
                snapshot=snapshot,
                remote_updated_at=remote_updated_at,
                state=decision.state,
                digest=digest,
            )
        )

    def refuse(self, pk: int, rejected: Rejected) -> None:
        self.refused.append((pk, rejected))
        self.ctx.skip(self.noun, rejected)

    def write(self) -> None:
        refused = {pk for pk, _ in self.refused}
        policy = self.ctx.settings.conflict_policy
        with transaction.atomic():
            db.record_synced(self.model, [r for r in self.rows if r.pk not in refused], now=timezone.now())
            keep_ours(self.model, self.refused)
            record_conflicts(
                bot_id=self.ctx.bot.pk,
                object_type=self.label,
                found=[c for c in self.conflicts if c[0] not in refused],
                policy=policy,
            )
        actor = sync_actor()
        updated = 0
        for keys, objects in self.changed.items():
            objects = [o for o in objects if o.pk not in refused]
            updated += len(objects)
            message = f"Changed on Userbot: {', '.join(keys)}"
            record_many(actor=actor, objects=objects, action="change", message=message)
        self.ctx.count(self.noun, "updated", updated)
        self.ctx.count(
            self.noun, "conflicts", sum(len(c) for pk, _, c in self.conflicts if pk not in refused)
        )
        self.ctx.count(self.noun, "errors", len(refused))
