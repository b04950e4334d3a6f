"""Applying what Userbot sent of a bot's chat users: the pages of a scan (``pull.Scan``) or
the chat users an event named (``events``), with the same code.

A batch is checked first (the list's schema, in compiled code, and tags Userbot lists);
of the chat users that pass, those as last synced (their digest) cost one statement a batch
and nothing more. The others are matched to the chat users here, decided by ``reconcile``
(new, an echo of our own push, Userbot's change taken, merged, or a conflict) and written
set-based by ``writes``. None of it writes the outbox.
"""

from __future__ import annotations

import logging
import threading
from array import array
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from backoffice.sync.actor import sync_actor
from backoffice.sync.gone import objects_gone
from backoffice.sync.kinds import PullContext, parse_time
from backoffice.sync.merge import Doc
from backoffice.sync.models import OutboxEntry, record_of
from backoffice.sync.reading import ReadFailed
from backoffice.sync.reconcile import Here, Settled, decide
from backoffice.sync.untrusted import is_kept, keep_ours, storable
from backoffice.userbot import api, schema
from backoffice.userbot.errors import TransportError
from backoffice.userbot.schema import Rejected
from chatusers.models import ChatUser, ChatUserSync
from chatusers.sync.documents import TIMES, VAR, chatuser_problems, local_docs, remote_doc, wire_digest
from chatusers.sync.matching import LABEL, Met, deleted_here, has_unlinked, matches, to_look_at
from chatusers.sync.tags import TagBook
from chatusers.sync.writes import commit_without_waiting, insert_chatusers, insert_links, write_changes

logger = logging.getLogger(__name__)
OPERATION = "chatusers.get"


class Settler:
    """Settles checked batches of one bot's chat users, keeping what a scan needs to know
    of them: every chat user met (``seen``), and the records synced before ``started_at``
    that were met (``met``) and synced again (``resynced``)."""

    def __init__(self, ctx: PullContext, book: TagBook) -> None:
        self.ctx, self.book, self.bot = ctx, book, ctx.bot
        self.seen = array("Q")
        self.actor = sync_actor()
        self.started_at = ctx.started_at
        # Read once: a bot whose chat users all came from Userbot (a first load) needs no
        # adoption lookups, which would cost an OR of three index scans a batch.
        self.has_unlinked = has_unlinked(self.bot)
        self.first_load = False  # set by a scan into an empty bot
        self.met = Met()  # the records synced before the scan that its batches met
        self.resynced = Met()  # of those, the ones it synced again
        self._lock = threading.Lock()

    def check(self, users: list[Any]) -> tuple[list[dict[str, Any]], list[Rejected]]:
        """The chat users of a batch that pass the schema (in compiled code, a page at a time)
        and name only tags Userbot lists (its tags read again for one not known here yet),
        and the others with why. Runs where the tags are learnt, never in an applier; what
        a model here can hold is asked in the applier, of those not as last synced."""
        found = schema.check_items(OPERATION, "chatusers", users)
        refused = list(found.rejected)
        names = self._learn_tags(found.items)
        valid = []
        for user in found.items:
            unknown = next((tag_id for tag_id in user["tags"] if tag_id not in names), None)
            if unknown is None:
                valid.append(user)
            else:
                why = f"names the tag {unknown}, which Userbot's list of tags does not hold"
                refused.append(Rejected(user["id"], {"tags": why}))
        return valid, refused

    def _learn_tags(self, users: list[dict[str, Any]]) -> dict[str, str]:
        """The tags by Userbot id, read again if these chat users carry one we do not know
        yet; a read that fails leaves the ones known (the tags' own kind records it)."""
        try:
            return self.book.names_for(self.ctx.client, (tag_id for u in users for tag_id in u["tags"]))
        except (ReadFailed, TransportError) as exc:
            logger.warning("Reading the tags of %s for its chat users failed: %s", self.bot.sitekey, exc)
            return self.book.names

    def apply(self, users: list[Any]) -> None:
        """Check and apply a batch of chat users as Userbot sent them (an event's refresh)."""
        self.apply_checked(*self.check(users))

    def apply_checked(self, users: list[dict[str, Any]], refused: list[Rejected]) -> None:
        """Apply a checked batch: the chat users that passed, and the refused ones recorded
        (an object here that one would have changed keeps its values, flagged)."""
        self._settle(self._sift(users, refused))

    def _sift(self, users: list[dict[str, Any]], refused: list[Rejected]) -> dict[str, dict[str, Any]]:
        """The chat users of a checked batch that need settling, by Userbot id: all of them in
        a first load, else those not as last synced that a model here can hold. Every one is
        noted as met, and the refused are recorded."""
        remote = {u["id"]: u for u in users}
        keys = [key_of(rid) for rid in remote]
        # A refused chat user is still on Userbot: not to be taken for deleted.
        keys.extend(key_of(r.id) for r in refused if r.id)
        with self._lock:
            self.seen.extend(keys)
        if not self.first_load:
            # Only those not as last synced go further; the rest cost one statement a batch.
            digests = {rid: wire_digest(user) for rid, user in remote.items()}
            look, met = to_look_at(self.bot, digests, before=self.started_at)
            remote = {rid: remote[rid] for rid in look}
            with self._lock:
                self.met.add(met)
        held = storable(list(remote.values()), times=TIMES, more=chatuser_problems)
        if held.rejected:
            remote = {u["id"]: u for u in held.items}
            refused = [*refused, *held.rejected]
        if refused:
            self._refuse(refused)
        return remote

    def _settle(self, remote: dict[str, dict[str, Any]]) -> None:
        """Make each of these chat users of Userbot what it becomes here: new, unchanged (its
        digest learnt), or decided by ``reconcile`` and written."""
        if not remote:
            return
        for rid in deleted_here(self.bot, remote):
            # Deleted here, its deletion not sent yet: not to be brought back.
            del remote[rid]
        if self.first_load:
            with transaction.atomic():
                commit_without_waiting()
                self._insert(list(remote.values()))
            return
        matched = matches(self.bot, remote, adopt=self.has_unlinked)
        new = [u for rid, u in remote.items() if rid not in matched]
        changed: list[tuple[ChatUser, dict[str, Any], Doc]] = []
        learnt: list[ChatUserSync] = []
        for rid, local in matched.items():
            user = remote[rid]
            if local.in_flight:
                self.ctx.count("chatusers", "skipped_in_flight")
                continue
            record = record_of(local)
            if (
                record.wire_digest is None
                and local.remote_id == rid
                and local.remote_updated_at == parse_time(user["updated_at"])
                and not is_kept(local)
            ):
                # No digest yet (a record from before digests, a push whose answer held no
                # whole chat user) and Userbot's updated_at the one last synced: as today's
                # rule has it, nothing changed; the digest is learnt for the next pull.
                record.wire_digest = wire_digest(user)
                learnt.append(record)
                continue
            changed.append((local, user, remote_doc(user, self.book.names)))
        with transaction.atomic():
            self._insert(new)
            self._update(changed)
            ChatUserSync.objects.bulk_update(learnt, ["wire_digest"], batch_size=1000)

    def _refuse(self, refused: list[Rejected]) -> None:
        # One line a batch: a broken Userbot may send a million of them.
        first = refused[0]
        logger.warning(
            "%d chat users of %s skipped, the first %s: %s",
            len(refused),
            self.bot.sitekey,
            first.id,
            first.reason,
        )
        for rejected in refused:
            self.ctx.skip("chatusers", rejected)
        by_id = {r.id: r for r in refused if r.id}
        in_flight = OutboxEntry.objects.filter(
            object_type=LABEL, object_id=OuterRef("pk"), state=OutboxEntry.State.IN_FLIGHT
        )
        here = (
            ChatUserSync.objects.filter(bot=self.bot, remote_id__in=list(by_id))
            .exclude(Exists(in_flight))  # a push on its way settles it
            .values_list("pk", "remote_id")
        )
        keep_ours(ChatUser, [(pk, by_id[rid]) for pk, rid in here])

    def _insert(self, users: list[dict[str, Any]]) -> None:
        """Chat users Userbot has and we had not: inserted as they are, already synced."""
        if not users:
            return
        now = timezone.now()
        rows = []
        for user in users:
            doc = remote_doc(user, self.book.names)
            rows.append((user, doc))
        inserted = insert_chatusers(self.bot.pk, rows, now, fresh=self.first_load)
        links, variables = [], []
        docs = {user["id"]: doc for user, doc in rows}
        for pk, rid in inserted:
            doc = docs[rid]
            links.extend((pk, self.book.by_name[name].pk) for name in doc["tags"])
            variables.extend(
                (pk, key[len(VAR) :], value) for key, value in doc.items() if key.startswith(VAR)
            )
        insert_links(links, variables, fresh=self.first_load)
        self.ctx.count("chatusers", "created", len(inserted))
        if len(inserted) < len(rows):
            # A key (email, phone, client_ref) still held here by another chat user whose own
            # change comes later in the scan: the next pull inserts it.
            self.ctx.count("chatusers", "deferred", len(rows) - len(inserted))

    def _update(self, changed: list[tuple[ChatUser, dict[str, Any], Doc]]) -> None:
        if not changed:
            return
        # A chat user's document here is read only where the decision needs it: one whose
        # Userbot copy is the one last synced changes nothing here.
        docs = local_docs(
            [local for local, _, remote in changed if remote != local.synced_snapshot or local.pending]
        )
        settled = Settled(self.ctx, LABEL, "chatusers", ChatUser)
        decided = []
        writes: list[tuple[ChatUser, dict[str, Any], Doc, Doc]] = []  # local, user, before, after
        for local, user, remote in changed:
            own_create = local.remote_id is None and user.get("client_ref") == local.client_ref
            here = Here(local.synced_snapshot, local.pending, own_create, docs.get(local.pk))
            decision = decide(here, remote, prefer=settled.prefer)
            decided.append((local, user, remote, here, decision))
            # Unread, the document here is the one last synced, which Userbot's copy matches.
            current = here.doc if here.doc is not None else remote
            # Without a new document only Userbot's own fields (created_at, last_seen_at) move.
            writes.append((local, user, current, decision.doc if decision.doc is not None else current))
        failed = write_changes(writes, self.book, timezone.now())
        resynced = Met()
        for local, user, remote, here, decision in decided:
            if local.pk in failed:
                settled.refuse(local.pk, Rejected(user["id"], {"email": failed[local.pk]}))
                continue
            if local.synced_at is not None and local.synced_at < self.started_at:
                resynced.add(Met(1, local.pk))  # met as synced before the scan, no longer
            settled.record(
                local,
                decision,
                remote_id=user["id"],
                snapshot=remote,
                remote_updated_at=parse_time(user["updated_at"]),
                before=here.doc,
                digest=wire_digest(user),
            )
        settled.write()
        with self._lock:
            self.resynced.add(resynced)

    def remove_gone(self, candidates: list[tuple[int, str]]) -> int:
        """Of these (pk, Userbot id) pairs, delete here (or flag, by policy) the chat users
        Userbot answers 404 for; an absence in a scan or a "deleted" event alone proves
        nothing. Returns how many went."""
        requests = (api.chatusers_get_vars(chatuser_id=rid) for _, rid in candidates)
        outcomes = self.ctx.client.iter_many(requests)
        gone = [pk for (pk, _), o in zip(candidates, outcomes, strict=True) if getattr(o, "status", 0) == 404]
        counts = objects_gone(label=LABEL, bot_sync=self.ctx.settings, pks=gone, actor=self.actor)
        for what, n in counts.items():
            self.ctx.count("chatusers", what, n)
        return len(gone)


def key_of(remote_id: str) -> int:
    # Scan and check run in one process, so the (per-process salted) str hash is stable here.
    return hash(remote_id) & 0xFFFF_FFFF_FFFF_FFFF
