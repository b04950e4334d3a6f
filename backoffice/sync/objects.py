"""The push of kinds whose objects are few and go to Userbot one request each.

Segments, interactions and automated messages have no bulk write on the wire: each create,
update and deletion is one request, and the requests of a batch are pipelined. Their lists
are short enough to read whole on every pull (``list_pull``).

A kind supplies the mapping (``ObjectKind``'s hooks): how to list Userbot's objects, how
one of them reads as a document, the requests that create, update and delete one, and how
a document is written here. This module pushes the same way for every kind: deletions
first (``kinds.push_deletions``), then creates (each with its ``client_ref``, so a repeat
returns the first one), then updates. An update reads Userbot's copy first and asks
``reconcile.decide_push``: a field changed there meanwhile is not overwritten with a stale
copy of it, and one changed on both sides waits for the pull, which settles it under the
bot's conflict policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import transaction

from backoffice.sync.kinds import Failure, PullContext, PushItem, SyncKind, failure_of, push_deletions
from backoffice.sync.list_pull import ListPull
from backoffice.sync.merge import Doc, changed_keys
from backoffice.sync.models import SyncedModel
from backoffice.sync.reading import ReadFailed, RemoteList, Unreadable, Unsendable, Wire, describe, sendable
from backoffice.sync.reconcile import Outcome, decide_push
from backoffice.sync.untrusted import answer_problems
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request, Response
from backoffice.userbot.models import Bot


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
        ListPull(self, ctx, wire).run(listing)

    # --- push -----------------------------------------------------------------------------

    def _send(
        self, wire: Wire, parts: Iterable[tuple[PushItem, Request]], *, gone_is_done: bool = False
    ) -> Iterator[tuple[PushItem, dict[str, Any]]]:
        """Pipeline one request per item; yield each 200 payload with its item, and record
        every failure on its item (a request the contract refuses is never sent)."""
        ready = [(item, request) for item, request in parts if sendable(item, request)]
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
        def find(unconfirmed: list[PushItem]) -> None:
            parts = [(i, self.placeholder_request(i.entry.client_ref)) for i in unconfirmed]
            for item, remote in self._send(wire, parts):
                if _answers_for(item, remote, item.entry.client_ref):
                    item.remote_id = remote["id"]

        def delete(doomed: list[PushItem]) -> None:
            parts = [(i, self.delete_request(i.remote_id)) for i in doomed]  # type: ignore[arg-type]
            for _ in self._send(wire, parts, gone_is_done=True):
                pass

        push_deletions(items, find=find, delete=delete)

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
