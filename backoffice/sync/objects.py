"""The shared sync of kinds whose objects are few and go to Userbot one request each.

Segments, interactions and automated messages have no bulk write on the wire: each create,
update and deletion is one request, and the requests of a batch are pipelined. Their lists
are short enough to read whole on every pull, so a pull sees every object and can tell a
deletion on Userbot from a list that is complete.

A kind supplies the mapping (``ObjectKind``'s hooks): how to list Userbot's objects, how
one of them reads as a document, the requests that create, update and delete one, and how
a document is written here. This module does the rest the same way for every kind:

- Push: deletions first (an object deleted before its create was confirmed is found by
  its ``client_ref``, creating a bare one if the create never arrived, then deleted), then
  creates (each with its ``client_ref``, so a repeat returns the first one), then updates.
  An update reads Userbot's copy first and merges: a field changed there meanwhile is not
  overwritten with a stale copy of it, and one changed on both sides waits for the pull,
  which settles it under the bot's conflict policy.
- Pull: a remote object is matched by its Userbot id, else by ``client_ref`` (our create
  whose answer was lost). An echo of our own push changes nothing here; a change with
  nothing pending here is applied; one that meets a pending change here is merged three
  ways under the bot's conflict policy. An object missing from a complete list was
  deleted on Userbot, and goes (or stays, flagged) by the bot's ``on_remote_delete``.
  Nothing a pull writes queues a push.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from backoffice.audit import record_many
from backoffice.sync import db
from backoffice.sync.actor import sync_actor
from backoffice.sync.gone import objects_gone
from backoffice.sync.kinds import Failure, PullContext, PushItem, SyncKind, failure_of, parse_time
from backoffice.sync.merge import Doc, changed_keys
from backoffice.sync.models import OutboxEntry, SyncedModel, SyncState, new_client_ref
from backoffice.sync.reconcile import Here, Outcome, Settled, decide, decide_push
from backoffice.sync.untrusted import answer_problems, checked, is_kept, keep_ours
from backoffice.userbot import schema
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request, Response
from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.models import Bot
from backoffice.userbot.schema import Rejected

logger = logging.getLogger(__name__)
LIST_PAGE = 1000


@dataclass
class Wire:
    """One bot's Userbot for a push or a pull: the client, and what a kind needs to translate
    its documents (a kind may extend it, e.g. with the bot's tags)."""

    bot: Bot
    client: UserbotClient


@dataclass
class RemoteList:
    """Userbot's objects of a kind; ``complete`` when they are surely all of them, so that an
    object missing from it was deleted there. ``rejected`` are the objects of the list that
    failed the checks (``untrusted``): skipped, each with why."""

    objects: list[dict[str, Any]]
    complete: bool = True
    rejected: list[Rejected] = field(default_factory=list)


class Unsendable(Exception):
    """A document that cannot be put on the wire now: why, and whether later may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class Unreadable(Exception):
    """A remote object this side cannot read (it names something Userbot does not list);
    ``field`` is the field of the object that says it."""

    def __init__(self, message: str, *, field: str = "object") -> None:
        super().__init__(message)
        self.field = field


class ReadFailed(Exception):
    """Reading a list from Userbot failed: no answer, an error status, or an answer that is
    not the list it should be."""

    def __init__(self, operation: str, failure: Failure) -> None:
        super().__init__(f"{operation}: {failure.message}")
        self.operation = operation
        self.failure = failure


def read(client: UserbotClient, request: Request) -> Any:
    """The 200 payload of one read, or ReadFailed saying whether trying later may help."""
    outcome = next(client.iter_many([request]))
    failure = failure_of(outcome)
    if failure is not None:
        raise ReadFailed(request.operation, failure)
    return outcome.payload  # type: ignore[union-attr]


def list_answer(operation: str, payload: Any, key: str) -> Any:
    """``payload`` if it is an answer of ``operation`` whose ``key`` is a list (whatever its
    objects); else ReadFailed, naming what is wrong."""
    try:
        schema.check_envelope(operation, payload, key)
    except PayloadInvalid as exc:
        message = describe(Failure("the answer is not valid", True, exc.fields))
        raise ReadFailed(operation, Failure(message, transient=True)) from None
    return payload


def read_list(
    client: UserbotClient, request: Request, key: str, *, times: Sequence[str] = ("updated_at",)
) -> RemoteList:
    """The objects of a list answered whole (``{key: [...]}``), checked one by one."""
    payload = list_answer(request.operation, read(client, request), key)
    found = checked(request.operation, key, payload[key], times=times)
    return RemoteList(found.items, rejected=found.rejected)


def read_pages(
    client: UserbotClient,
    build: Any,
    key: str,
    *,
    page: int = LIST_PAGE,
    times: Sequence[str] = ("updated_at",),
) -> RemoteList:
    """Every item of a paged list (``build(offset=, limit=)`` answering ``{"total", key}``),
    the pages after the first pipelined, checked one by one. Paging by offset can skip an
    item when another is deleted meanwhile, so the list is complete only if the total held
    still throughout and the items (valid or not) add up to it."""
    request = build(offset=0, limit=page)
    operation = request.operation
    first = list_answer(operation, read(client, request), key)
    total = first["total"]
    items = list(first[key])
    totals = {total}
    offsets = range(page, total + page, page) if len(first[key]) == page else range(0)
    for outcome in client.iter_many(build(offset=o, limit=page) for o in offsets):
        failure = failure_of(outcome)
        if failure is not None:
            raise ReadFailed(operation, failure)
        answer = list_answer(operation, outcome.payload, key)  # type: ignore[union-attr]
        totals.add(answer["total"])
        items.extend(answer[key])
        if len(answer[key]) < page:
            break  # past the end, whatever the first page's total said
    found = checked(operation, key, items, times=times)
    ids = {schema.object_id(item) for item in items} - {None}
    complete = len(totals) == 1 and len(ids) == len(items) == total
    return RemoteList(found.items, complete=complete, rejected=found.rejected)


def describe(failure: Failure) -> str:
    """A failure with the fields Userbot named, for the operator reading a dead entry."""
    if not failure.fields:
        return failure.message
    named = "; ".join(f"{name}: {why}" for name, why in sorted(failure.fields.items()))
    return f"{failure.message} ({named})"


@dataclass
class _Found:
    """A remote object of a pull and its local counterpart."""

    local: Any
    remote: dict[str, Any]
    doc: Doc
    stamp: Any


class ObjectKind(SyncKind):
    """Base of a kind pushed one request per object and pulled as a whole list."""

    # The key of the kind in a pull's report.
    noun: str = ""

    # --- hooks ------------------------------------------------------------------------

    def wire(self, bot: Bot, client: UserbotClient) -> Wire:
        return Wire(bot, client)

    def remote_list(self, wire: Wire) -> RemoteList:
        """Userbot's objects of the kind; raise ReadFailed when a read fails."""
        raise NotImplementedError

    def remote_doc(self, wire: Wire, remote: dict[str, Any]) -> Doc:
        """The document of a remote object; raise Unreadable when it cannot be read here."""
        raise NotImplementedError

    def create_request(self, wire: Wire, doc: Doc, client_ref: str) -> Request:
        """The request that creates the object, carrying its ``client_ref``; raise
        Unsendable when the document cannot go now."""
        raise NotImplementedError

    def placeholder_request(self, client_ref: str) -> Request:
        """The smallest valid create with this ``client_ref``: it returns the object an
        unanswered create made, or makes a bare one (inert: disabled, matching no one) that
        the deletion then removes."""
        raise NotImplementedError

    def update_request(self, wire: Wire, remote_id: str, doc: Doc, changed: Sequence[str]) -> Request:
        """The request that gives the remote object ``doc``, of which ``changed`` changed."""
        raise NotImplementedError

    def delete_request(self, remote_id: str) -> Request:
        raise NotImplementedError

    def write_local(self, obj: Any, doc: Doc) -> None:
        """Give ``obj`` (saved or new) the values of ``doc`` here and save it, with its
        parts; called in a transaction, never queueing a push."""
        raise NotImplementedError

    # --- SyncKind -----------------------------------------------------------------------

    def set_local(self, obj: SyncedModel, changes: Doc) -> None:
        # Every key of these documents always has a value, so None leaves a key as it is.
        doc = {**self.local_docs([obj])[obj.pk], **{k: v for k, v in changes.items() if v is not None}}
        with transaction.atomic():
            self.write_local(obj, doc)

    def push(self, client: UserbotClient, items: list[PushItem]) -> None:
        wire = self.wire(items[0].entry.bot, client)
        self._delete(wire, [i for i in items if i.deleted])
        live = [i for i in items if not i.deleted and i.obj is not None]
        updates = [i for i in live if i.remote_id and i.snapshot != i.local]
        differing = self._create(wire, [i for i in live if not i.remote_id])
        self._update(wire, [*updates, *differing])

    def pull(self, ctx: PullContext) -> None:
        wire = self.wire(ctx.bot, ctx.client)
        listing = self.remote_list(wire)
        Pull(self, ctx, wire).run(listing)

    # --- push -----------------------------------------------------------------------------

    def _send(
        self, wire: Wire, parts: Iterable[tuple[PushItem, Request]], *, gone_is_done: bool = False
    ) -> Iterator[tuple[PushItem, dict[str, Any]]]:
        """Pipeline one request per item; yield each 200 payload with its item, and record
        every failure on its item (a request the contract refuses is never sent)."""
        ready = []
        for item, request in parts:
            try:
                schema.validate_request(request.operation, request.payload)
            except PayloadInvalid as exc:
                item.fail(
                    describe(Failure(f"not valid for Userbot: {exc.message}", False, exc.fields)),
                    transient=False,
                )
                continue
            ready.append((item, request))
        if not ready:
            return
        # Read to the end before the caller acts: acting may send requests of its own.
        outcomes = list(wire.client.iter_many(request for _, request in ready))
        for (item, request), outcome in zip(ready, outcomes, strict=True):
            if gone_is_done and isinstance(outcome, Response) and outcome.status == 404:
                continue  # already gone: what a deletion wants
            failure = failure_of(outcome)
            if failure is not None:
                item.fail(describe(failure), transient=failure.transient)
                continue
            problems = answer_problems(request.operation, outcome.payload)  # type: ignore[union-attr]
            if problems:
                # Whatever Userbot did, this answer cannot say it: nothing is taken from it, and
                # a person looks at it (sending it again would get the same answer).
                invalid = Failure(f"Userbot's answer to {request.operation} is not valid", False, problems)
                item.fail(f"{describe(invalid)}; nothing was recorded from it", transient=False)
                continue
            yield item, outcome.payload  # type: ignore[union-attr]

    def _delete(self, wire: Wire, items: list[PushItem]) -> None:
        unconfirmed = [i for i in items if not i.remote_id and i.entry.client_ref]
        parts = [(i, self.placeholder_request(i.entry.client_ref)) for i in unconfirmed]
        for item, remote in self._send(wire, parts):
            if _answers_for(item, remote, item.entry.client_ref):
                item.remote_id = remote["id"]
        doomed = [i for i in items if i.remote_id and not i.error]
        for _ in self._send(wire, [(i, self.delete_request(i.remote_id)) for i in doomed], gone_is_done=True):
            pass

    def _create(self, wire: Wire, items: list[PushItem]) -> list[PushItem]:
        """Create the items' objects; returns those Userbot holds otherwise than ours (a
        create repeated after a lost answer returns the object as first made)."""
        parts = []
        for item in items:
            try:
                parts.append((item, self.create_request(wire, item.local or {}, item.obj.client_ref)))  # type: ignore[union-attr]
            except Unsendable as exc:
                item.fail(exc.message, transient=exc.transient)
        differing = []
        for item, remote in self._send(wire, parts):
            if not _answers_for(item, remote, item.obj.client_ref):  # type: ignore[union-attr]
                continue
            item.confirm(remote_id=remote["id"])
            try:
                doc = self.remote_doc(wire, remote)
            except Unreadable as exc:
                item.fail(f"Created, but its answer cannot be read: {exc}", transient=True)
                continue
            # Userbot holds exactly this at that updated_at, whatever we asked for.
            item.confirm(snapshot=doc, updated_at=remote["updated_at"])
            if doc != item.local:
                differing.append(item)
        return differing

    def _update(self, wire: Wire, items: list[PushItem]) -> None:
        if not items:
            return
        # Userbot's copy, read first: a field changed there since the last sync is carried
        # as Userbot has it (an update that must send every field would otherwise send it
        # stale), and a field changed on both sides is left for the pull to settle under
        # the bot's policy, never overwritten unseen.
        try:
            current = {r["id"]: r for r in self.remote_list(wire).objects}
        except ReadFailed as exc:
            for item in items:
                item.fail(f"Reading Userbot's copy failed: {exc.failure.message}", transient=True)
            return
        parts: list[tuple[PushItem, Request]] = []
        sent: dict[int, tuple[Doc, list[str]]] = {}
        for item in items:
            base, local = item.snapshot or {}, item.local or {}
            changed = changed_keys(base, local)
            if not changed:
                continue
            body = local
            theirs_raw = current.get(item.remote_id)  # type: ignore[arg-type]
            if theirs_raw is not None:
                try:
                    theirs = self.remote_doc(wire, theirs_raw)
                except Unreadable as exc:
                    item.fail(f"Userbot's copy cannot be read: {exc}", transient=True)
                    continue
                decision = decide_push(snapshot=base, local=local, remote=theirs)
                if decision.outcome is Outcome.HOLD:
                    item.hold_for_pull(c.key for c in decision.conflicts)
                    continue
                body = decision.doc
            try:
                parts.append((item, self.update_request(wire, item.remote_id, body, changed)))  # type: ignore[arg-type]
            except Unsendable as exc:
                item.fail(exc.message, transient=exc.transient)
                continue
            sent[id(item)] = (base, changed)
        for item, remote in self._send(wire, parts):
            base, changed = sent[id(item)]
            local = item.local or {}
            # The snapshot follows only what we sent as changed: a field Userbot changed
            # meanwhile (and we carried along) stays a change for the next pull to apply here.
            snapshot = dict(base)
            for key in changed:
                if key in local:
                    snapshot[key] = local[key]
                else:
                    snapshot.pop(key, None)
            item.confirm(snapshot=snapshot)
            try:
                shown = self.remote_doc(wire, remote)
            except Unreadable:
                continue
            if shown == snapshot:
                item.confirm(updated_at=remote["updated_at"])


def _answers_for(item: PushItem, remote: dict[str, Any], client_ref: str) -> bool:
    """Whether the object a create answered with is the one asked for (by its ``client_ref``);
    if not, the item fails for now and nothing of the answer is recorded: sent again, the
    ``client_ref`` keeps the create from making a second object."""
    if remote.get("client_ref") == client_ref:
        return True
    item.fail(
        f"Userbot answered the create with another object (client_ref {remote.get('client_ref')!r},"
        f" not {client_ref!r}); nothing was recorded from it",
        transient=True,
    )
    return False


class Pull:
    """One reconciliation of a kind with Userbot's complete (or not) list of it."""

    def __init__(self, kind: ObjectKind, ctx: PullContext, wire: Wire) -> None:
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
            if not self._write(obj, item.doc):
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
            if decision.doc is not None and decision.doc != here.doc and not self._write(local, decision.doc):
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

    def _write(self, obj: Any, doc: Doc) -> bool:
        """Write one object in its own transaction; a row the database refuses is counted and
        flagged (on the object if it exists), and the rest go on."""
        try:
            with transaction.atomic():
                self.kind.write_local(obj, doc)
        except DatabaseError as exc:
            # The checks before this should leave nothing the database refuses; this is the
            # net under them, so that one object never costs the rest of the list.
            logger.warning("Writing %s %s from Userbot failed: %s", self.kind.label, obj.remote_id, exc)
            self.count("errors")
            refused = Rejected(obj.remote_id, {"object": f"the database refused it: {exc}"})
            self.ctx.skip(self.kind.noun, refused)
            if obj.pk is not None and not obj._state.adding:
                keep_ours(self.model, [(obj.pk, refused)])
            return False
        return True

    def _gone(self, objects: list[Any]) -> None:
        """Objects deleted on Userbot: settled by ``gone.objects_gone``, the one rule for them."""
        counts = objects_gone(
            label=self.kind.label, bot_sync=self.ctx.settings, pks=[o.pk for o in objects], actor=self.actor
        )
        for what, n in counts.items():
            self.count(what, n)
