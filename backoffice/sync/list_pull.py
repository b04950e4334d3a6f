"""The pull of a kind whose list Userbot gives whole (segments, interactions, automated
messages): one reconciliation of the list with the objects here.

A remote object is matched by its Userbot id, else by ``client_ref`` (our create whose
answer was lost), and ``reconcile.decide`` says what it becomes here. An object missing
from a complete list was deleted on Userbot: ``gone.objects_gone`` settles it by the bot's
policies. Nothing a pull writes queues a push.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import DatabaseError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from backoffice.audit import record_many
from backoffice.sync import db
from backoffice.sync.actor import sync_actor
from backoffice.sync.gone import objects_gone
from backoffice.sync.kinds import PullContext, parse_time
from backoffice.sync.merge import Doc
from backoffice.sync.models import OutboxEntry, SyncedModel, SyncState, new_client_ref
from backoffice.sync.reading import RemoteList, Unreadable, Wire
from backoffice.sync.reconcile import Here, Settled, decide
from backoffice.sync.untrusted import is_kept, keep_ours
from backoffice.userbot.schema import Rejected

logger = logging.getLogger(__name__)


class ListedKind(Protocol):
    """What a list pull needs of its kind (``objects.ObjectKind`` has it)."""

    label: str
    noun: str
    model: type[SyncedModel]

    def remote_doc(self, wire: Wire, remote: dict[str, Any]) -> Doc: ...

    def local_docs(self, objects: Sequence[SyncedModel]) -> dict[int, Doc]: ...

    def write_local(self, obj: Any, doc: Doc) -> None: ...


@dataclass
class _Found:
    """A remote object of a pull and its local counterpart."""

    local: Any
    remote: dict[str, Any]
    doc: Doc
    stamp: Any


class ListPull:
    """One reconciliation of a kind with Userbot's complete (or not) list of it."""

    def __init__(self, kind: ListedKind, ctx: PullContext, wire: Wire) -> None:
        self.kind, self.ctx, self.wire = kind, ctx, wire
        self.model = kind.model
        self.bot = ctx.bot
        self.policy = ctx.settings.conflict_policy
        self.actor = sync_actor()

    def count(self, what: str, n: int = 1) -> None:
        self.ctx.count(self.kind.noun, what, n)

    def run(self, listing: RemoteList) -> None:
        label = self.kind.label
        entries = OutboxEntry.objects.filter(object_type=label, object_id=OuterRef("pk"))
        locals_ = list(
            self.model.objects.filter(bot=self.bot).annotate(
                in_flight=Exists(entries.filter(state=OutboxEntry.State.IN_FLIGHT)),
                pending=Exists(
                    entries.filter(
                        state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.DEAD], deleted=False
                    )
                ),
            )
        )
        # Objects deleted here whose deletion has not reached Userbot yet: not to be
        # brought back as new.
        doomed_ids, doomed_refs = set(), set()
        for rid, ref in OutboxEntry.objects.filter(bot=self.bot, object_type=label, deleted=True).values_list(
            "remote_id", "client_ref"
        ):
            doomed_ids.add(rid)
            doomed_refs.add(ref)
        doomed_ids.discard("")
        doomed_refs.discard("")
        by_remote = {o.remote_id: o for o in locals_ if o.remote_id}
        by_ref = {o.client_ref: o for o in locals_ if not o.remote_id}
        refs = {o.client_ref for o in locals_}
        # An object Userbot sent that fails the checks is still there: not to be taken for
        # deleted, and the object here it would have changed keeps its values, flagged.
        refused = list(listing.rejected)
        seen: set[str] = {r.id for r in refused if r.id}
        new: list[_Found] = []
        changed: list[_Found] = []
        for remote in listing.objects:
            rid = remote["id"]
            seen.add(rid)
            ref = remote.get("client_ref") or ""
            if rid in doomed_ids or ref in doomed_refs:
                continue
            try:
                doc = self.kind.remote_doc(self.wire, remote)
            except Unreadable as exc:
                refused.append(Rejected(rid, {exc.field: str(exc)}))
                continue
            local = by_remote.get(rid) or by_ref.pop(ref, None)
            stamp = parse_time(remote.get("updated_at"))
            if local is None:
                new.append(_Found(None, remote, doc, stamp))
                continue
            if local.in_flight:
                self.count("skipped_in_flight")
                continue
            if local.remote_id == rid and local.remote_updated_at == stamp and not is_kept(local):
                continue
            changed.append(_Found(local, remote, doc, stamp))
        self._refuse(refused, by_remote)
        self._insert(new, refs)
        self._update(changed)
        if listing.complete:
            missing = [
                o
                for o in locals_
                if o.remote_id
                and o.remote_id not in seen
                and not o.in_flight
                and o.synced_at is not None
                and o.synced_at < self.ctx.started_at
            ]
            self._gone(missing)
        else:
            self.count("deletions_deferred")

    def _refuse(self, refused: list[Rejected], by_remote: dict[str, Any]) -> None:
        """Record each object Userbot sent that cannot be taken, and flag the one here it
        would have changed (unless a push of it is on its way, which settles it)."""
        if refused:
            first = refused[0]
            logger.warning(
                "%d %s of %s skipped, the first %s: %s",
                len(refused),
                self.kind.noun,
                self.bot.sitekey,
                first.id,
                first.reason,
            )
        flagged = []
        for rejected in refused:
            self.ctx.skip(self.kind.noun, rejected)
            local = by_remote.get(rejected.id) if rejected.id else None
            if local is not None and not local.in_flight:
                flagged.append((local.pk, rejected))
        keep_ours(self.model, flagged)

    def _insert(self, found: list[_Found], refs: set[str]) -> None:
        now = timezone.now()
        rows, added = [], []
        for item in found:
            ref = item.remote.get("client_ref") or ""
            obj = self.model(
                bot=self.bot,
                remote_id=item.remote["id"],
                client_ref=ref if ref and ref not in refs else new_client_ref(),
                sync_state=SyncState.SYNCED,
            )
            if refused := self._write(obj, item.doc):
                self.count("errors")
                self.ctx.skip(self.kind.noun, refused)
                continue
            refs.add(obj.client_ref)
            rows.append(
                db.SyncedRow(
                    pk=obj.pk, remote_id=obj.remote_id, snapshot=item.doc, remote_updated_at=item.stamp
                )
            )
            added.append(obj)
        db.record_synced(self.model, rows, now=now)
        record_many(actor=self.actor, objects=added, action="add", message="Added on Userbot")
        self.count("created", len(added))

    def _update(self, found: list[_Found]) -> None:
        if not found:
            return
        docs = self.kind.local_docs([f.local for f in found])
        settled = Settled(self.ctx, self.kind.label, self.kind.noun, self.model)
        for item in found:
            local = item.local
            own_create = not local.remote_id and item.remote.get("client_ref") == local.client_ref
            here = Here(local.synced_snapshot, local.pending, own_create, docs[local.pk])
            decision = decide(here, item.doc, prefer=settled.prefer)
            if decision.doc is not None and decision.doc != here.doc:
                if refused := self._write(local, decision.doc):
                    settled.refuse(local.pk, refused)  # keeps its values, flagged, and counted
                    continue
            settled.record(
                local,
                decision,
                remote_id=item.remote["id"],
                snapshot=item.doc,
                remote_updated_at=item.stamp,
                before=here.doc,
            )
        settled.write()

    def _write(self, obj: Any, doc: Doc) -> Rejected | None:
        """Write one object in its own transaction; returns why, if the database refuses it
        (the caller records it, and the rest go on)."""
        try:
            with transaction.atomic():
                self.kind.write_local(obj, doc)
        except DatabaseError as exc:
            # The checks before this should leave nothing the database refuses; this is the
            # net under them, so that one object never costs the rest of the list.
            logger.warning("Writing %s %s from Userbot failed: %s", self.kind.label, obj.remote_id, exc)
            return Rejected(obj.remote_id, {"object": f"the database refused it: {exc}"})
        return None

    def _gone(self, objects: list[Any]) -> None:
        """Objects deleted on Userbot: settled by ``gone.objects_gone``, the one rule for them."""
        counts = objects_gone(
            label=self.kind.label, bot_sync=self.ctx.settings, pks=[o.pk for o in objects], actor=self.actor
        )
        for what, n in counts.items():
            self.count(what, n)
