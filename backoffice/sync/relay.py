"""The push half of the sync: claim outbox entries, send them in bulk, record what came back.

Any number of workers may run ``push_pending`` for one bot at once. An entry is claimed
by one statement that only takes pending entries whose object has nothing in flight, so
no change is sent by two workers, and per object one operation is in flight at a time.
A claim is a lease: a worker that dies leaves its entries in flight until the lease ends
and the next run takes them back (every operation the kinds send is safe to repeat, so
the send that may have happened before the crash does no harm when it is repeated).

Outcomes: success records the new remote id, snapshot and ``updated_at`` on the object's
sync record and deletes the entry; a transient failure puts the entry back with a jittered backoff;
a permanent one moves it to the dead-letter list with the reason, and the entries behind
it go on.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from backoffice.sync import db
from backoffice.sync.kinds import PushItem, kind_for
from backoffice.sync.models import BotSync, OutboxEntry, SyncedModel, SyncState, with_records
from backoffice.sync.stage import Stage
from backoffice.userbot.connections import client_for
from backoffice.userbot.errors import ConnectFailed
from backoffice.userbot.models import Bot

logger = logging.getLogger(__name__)
Pending = OutboxEntry.State.PENDING
InFlight = OutboxEntry.State.IN_FLIGHT
Dead = OutboxEntry.State.DEAD
# An entry whose object is in conflict waits for the operator; the resolution wakes it.
PARKED_FOR = timedelta(days=3650)


@dataclass
class PushReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    parked: int = 0
    # Entries this run no longer held when it came to send or record them: its lease ran
    # out and another relay took them over, which sends and records them instead.
    lost: int = 0
    needs_pull: bool = False
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __str__(self) -> str:
        kinds = ", ".join(f"{label} {n}" for label, n in sorted(self.by_kind.items())) or "nothing"
        lost = f"; {self.lost} left to another relay" if self.lost else ""
        return (
            f"pushed {self.sent} ({kinds}); {self.retrying} to retry, {self.dead} dead, "
            f"{self.parked} waiting on a conflict{lost}"
        )


def worker_name() -> str:
    """Who holds a claim: host, process and a per-run token."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def due_entries(bot: Bot) -> Any:
    """The bot's entries a relay may claim now."""
    in_flight = OutboxEntry.objects.filter(
        object_type=OuterRef("object_type"), object_id=OuterRef("object_id"), state=InFlight
    )
    return OutboxEntry.objects.filter(bot=bot, state=Pending).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()), ~Exists(in_flight)
    )


def claim(bot: Bot, *, limit: int, worker: str) -> list[OutboxEntry]:
    """Take up to ``limit`` due entries of the bot for ``worker``, oldest first."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _claim_postgres(bot, limit=limit, worker=worker, now=now)
    chosen = list(due_entries(bot).order_by("id").values_list("id", flat=True)[:limit])
    with transaction.atomic():
        OutboxEntry.objects.filter(id__in=chosen, state=Pending).update(
            state=InFlight, claimed_by=worker, claimed_at=now, attempts=F("attempts") + 1
        )
    # The worker's earlier batches may still be in flight: only this claim's rows.
    return list(
        OutboxEntry.objects.filter(id__in=chosen, claimed_by=worker, claimed_at=now, state=InFlight).order_by(
            "id"
        )
    )


def _claim_postgres(bot: Bot, *, limit: int, worker: str, now: datetime) -> list[OutboxEntry]:
    # Written out rather than left to the planner, so its cost follows the batch and not
    # the queue: the bot's pending entries are walked in id order on their own index
    # (``outbox_pending``) until the batch is full; the objects in flight are read once
    # into a hash (``NOT IN`` of a subquery), never joined row by row; and the rows are
    # updated by primary key. Workers skip each other's rows instead of queueing behind
    # them; a row is locked only once its ``state = pending`` holds on its latest version,
    # and the lock holds until the update, so no row is taken twice.
    table = OutboxEntry._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET state = %s, claimed_by = %s, claimed_at = %s, attempts = attempts + 1
            WHERE id = ANY(ARRAY(
                SELECT e.id FROM {table} e
                WHERE e.bot_id = %s AND e.state = %s
                  AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= %s)
                  AND (e.object_type, e.object_id) NOT IN (
                      SELECT f.object_type, f.object_id FROM {table} f WHERE f.bot_id = %s AND f.state = %s
                  )
                ORDER BY e.id LIMIT %s FOR UPDATE SKIP LOCKED
            ))
            RETURNING {", ".join(_CLAIMED_COLUMNS)}
            """,  # noqa: S608 (the table name comes from the model's meta)
            [InFlight, worker, now, bot.pk, Pending, now, bot.pk, InFlight, limit],
        )
        rows = cursor.fetchall()
    # The claim's own values are known here: read back, each timestamp would be parsed
    # in Python, which costs more per entry than the rest of the claim.
    entries = []
    for row in sorted(rows):
        entry = OutboxEntry.from_db(connection.alias, _CLAIMED_FIELDS, row)
        entry.claimed_at = now
        entries.append(entry)
    return entries


# What a claim reads back of its entries: all but the timestamps (``claimed_at`` is the
# claim's own; the others are not used by the relay, and are read if something asks).
_CLAIMED = [
    f
    for f in OutboxEntry._meta.concrete_fields
    if f.name not in ("next_attempt_at", "claimed_at", "created_at", "updated_at")
]
_CLAIMED_FIELDS = [f.attname for f in _CLAIMED]
_CLAIMED_COLUMNS = [f.column for f in _CLAIMED]


def renew(entries: list[OutboxEntry], worker: str) -> list[OutboxEntry]:
    """Extend the lease of a claim still being worked on, once a good part of it has gone;
    returns the entries ``worker`` still holds.

    A claim younger than a quarter of its lease cannot have been taken over (a lease must
    run out first), so it is not read; an older one is renewed by a compare-and-set that
    only moves what the worker still holds, and the entries it lost are left out.
    """
    now = timezone.now()
    claimed = min((e.claimed_at for e in entries if e.claimed_at), default=None)
    if claimed is not None and now - claimed < timedelta(seconds=settings.SYNC_CLAIM_LEASE_S / 4):
        return entries
    with transaction.atomic():
        held = db.hold([e.id for e in entries], worker, now=now)
    for entry in entries:
        entry.claimed_at = now
    return _still_held(entries, held, worker, "renew")


def _still_held(entries: list[OutboxEntry], held: set[int], worker: str, when: str) -> list[OutboxEntry]:
    kept = [e for e in entries if e.id in held]
    if len(kept) < len(entries):
        logger.warning(
            "Relay %s no longer holds %d of its %d entries at %s (its lease ran out and another "
            "relay took them): it leaves them alone",
            worker,
            len(entries) - len(kept),
            len(entries),
            when,
        )
    return kept


def release_stale(*, lease_s: float | None = None) -> int:
    """Give back entries whose claim outlived its lease (their worker died or hung)."""
    lease = settings.SYNC_CLAIM_LEASE_S if lease_s is None else lease_s
    stale = OutboxEntry.objects.filter(
        state=InFlight, claimed_at__lt=timezone.now() - timedelta(seconds=lease)
    )
    pending_too = OutboxEntry.objects.filter(
        object_type=OuterRef("object_type"), object_id=OuterRef("object_id"), state=Pending
    )
    released = 0
    for _ in range(3):
        try:
            with transaction.atomic():
                # A newer pending entry of the object already covers it: the relay diffs
                # the object's current state, so the stale one adds nothing.
                released += stale.filter(Exists(pending_too)).delete()[0]
                released += stale.update(state=Pending, claimed_by="", claimed_at=None, next_attempt_at=None)
            return released
        except IntegrityError:
            continue  # an edit made a pending entry between the two statements: look again
    return released


def push_pending(bot: Bot, *, batch: int | None = None, max_batches: int | None = None) -> PushReport:
    """Push the bot's due entries, a batch at a time, until none is due; returns the counts.

    A change Userbot made too is held back and the report says ``needs_pull``: the caller
    decides when that pull runs (the ``sync.push`` task queues it).

    On PostgreSQL the run is a pipeline: while one batch is on the wire, the next is
    claimed and read and the previous one's outcomes are written, each in a thread of its
    own with its own connection (the database works in another process, the socket waits
    release the interpreter), and never more than one batch ahead or behind.
    """
    batch = batch or settings.SYNC_PUSH_BATCH
    worker = worker_name()
    report = PushReport()
    release_stale()
    client = None
    error = ""
    threaded = connection.vendor == "postgresql"
    loader, completer = Stage(threaded=threaded), Stage(threaded=threaded)
    prepared: list[_Group] | None = None
    try:
        done = 0
        loader.submit(_prepare, bot, batch, worker, report)
        while True:
            prepared = loader.result()
            if not prepared:
                break
            done += 1
            if max_batches is None or done < max_batches:
                loader.submit(_prepare, bot, batch, worker, report)
            if client is None:
                client = client_for(bot)
            try:
                for group in prepared:
                    group.keep(renew(group.entries, worker), report)
                    if group.items:
                        _push(group, client)
                    completer.submit(_complete, group.kind.model, group.items, report, group.label, worker)
            except ConnectFailed as exc:
                error = str(exc)
                for group in prepared:
                    report.retrying += _give_back(group.entries, error, worker)
                break
            prepared = None
            if max_batches is not None and done >= max_batches:
                break
    finally:
        completer.close()
        for group in loader.close() or ():
            _give_back(group.entries, "", worker, at_once=True)  # claimed ahead, never sent
        reconnects = client.reconnects if client is not None else 0
        if client is not None:
            client.close()
        BotSync.objects.filter(bot=bot).update(
            push_finished_at=timezone.now(), push_error=error, reconnects=F("reconnects") + reconnects
        )
    return report


@dataclass
class _Group:
    """Claimed entries of one kind, ready to send."""

    kind: Any
    label: str
    entries: list[OutboxEntry]
    items: list[PushItem]

    def keep(self, held: list[OutboxEntry], report: PushReport) -> None:
        """Go on with only the entries still held: the others are another relay's now."""
        if len(held) == len(self.entries):
            return
        ids = {e.id for e in held}
        report.lost += len(self.entries) - len(held)
        self.entries, self.items = held, [i for i in self.items if i.entry.id in ids]


def _push(group: _Group, client: Any) -> None:
    """Send a group's changes. A fault of the kind's own code fails the items it had not
    settled, for a retry with backoff under that error, rather than leaving their entries in
    flight, unexplained, until the lease runs out; what Userbot confirmed before it is kept."""
    try:
        group.kind.push(client, group.items)
    except ConnectFailed:
        raise
    except Exception as exc:
        logger.exception("Pushing %s of %d objects failed here", group.label, len(group.items))
        for item in group.items:
            if not item.error:
                item.fail(f"The push stopped on an error here: {type(exc).__name__}: {exc}", transient=True)


def _prepare(bot: Bot, limit: int, worker: str, report: PushReport) -> list[_Group]:
    """Claim the next batch and read its objects; park the entries of objects in conflict."""
    entries = claim(bot, limit=limit, worker=worker)
    by_type: dict[str, list[OutboxEntry]] = defaultdict(list)
    for entry in entries:
        by_type[entry.object_type].append(entry)
    groups = []
    for label, group in by_type.items():
        kind = kind_for(label)
        items, parked = _items(kind, group)
        if parked:
            OutboxEntry.objects.filter(
                id__in=[e.id for e in parked], claimed_by=worker, state=InFlight
            ).update(
                state=Pending, claimed_by="", claimed_at=None, next_attempt_at=timezone.now() + PARKED_FOR
            )
            report.parked += len(parked)
        groups.append(_Group(kind, label, [i.entry for i in items], items))
    return groups


def _items(kind: Any, entries: list[OutboxEntry]) -> tuple[list[PushItem], list[OutboxEntry]]:
    live_ids = [e.object_id for e in entries if not e.deleted]
    found = with_records(kind.model.objects.filter(pk__in=db.any_of(live_ids)), *(kind.push_fields or ()))
    objects = {obj.pk: obj for obj in found}
    docs = kind.local_docs(list(objects.values())) if objects else {}
    items, parked = [], []
    for entry in entries:
        obj = None if entry.deleted else objects.get(entry.object_id)
        if obj is not None and obj.sync_state == SyncState.CONFLICT:
            parked.append(entry)
            continue
        items.append(
            PushItem(
                entry=entry,
                obj=obj,
                local=docs.get(obj.pk) if obj is not None else None,
                snapshot=obj.synced_snapshot if obj is not None else None,
                remote_id=(obj.remote_id if obj is not None else entry.remote_id) or None,
                remote_updated_at=obj.remote_updated_at if obj is not None else None,
            )
        )
    return items, parked


def _complete(
    model: type[SyncedModel], items: list[PushItem], report: PushReport, label: str, worker: str
) -> None:
    """Record the outcome of each item: on the object, and on its entry.

    Only what ``worker`` still holds is recorded, decided first by a compare-and-set on the
    entries (deleting those done, renewing the others), whose row locks last until the
    records are written: entries another relay took over after this one's lease ran out
    are that relay's to send and record, and this one leaves them, and their objects, alone.
    """
    now = timezone.now()
    with transaction.atomic():
        held = db.complete_held([i.entry.id for i in items if not i.error], worker)
        held |= db.hold([i.entry.id for i in items if i.error], worker, now=now)
        if len(held) < len(items):
            kept = _still_held([i.entry for i in items], held, worker, "completion")
            report.lost += len(items) - len(kept)
            items = [i for i in items if i.entry.id in held]
        done = [i for i in items if not i.error]
        retry = [i for i in items if i.error and i.transient]
        dead = [i for i in items if i.error and not i.transient]
        rows = [
            db.SyncedRow(
                pk=i.obj.pk,
                remote_id=i.remote_id,
                snapshot=i.snapshot,
                remote_updated_at=i.remote_updated_at,
                error=i.error,
                state=SyncState.ERROR if i.error and not i.transient else None,
            )
            for i in items
            if i.obj is not None
        ]
        db.record_synced(model, rows, now=now)
        _retry_later([i.entry for i in retry], {i.entry.id: i.error for i in retry}, now)
        for item in dead:
            entry = item.entry
            entry.state, entry.last_error, entry.claimed_by, entry.claimed_at = Dead, item.error, "", None
            logger.warning("Sync of %s #%s failed for good: %s", label, entry.object_id, item.error)
        OutboxEntry.objects.bulk_update(
            [i.entry for i in dead], ["state", "last_error", "claimed_by", "claimed_at"], batch_size=1000
        )
    if any(i.needs_pull for i in items):
        report.needs_pull = True
    report.sent += len(done)
    report.retrying += len(retry)
    report.dead += len(dead)
    if done:
        report.by_kind[label] += len(done)


def _retry_later(
    entries: list[OutboxEntry], errors: dict[int, str], now: datetime, *, at_once: bool = False
) -> None:
    if not entries:
        return
    newer = set(
        OutboxEntry.objects.filter(
            state=Pending,
            object_id__in=db.any_of([e.object_id for e in entries]),
            object_type=entries[0].object_type,  # callers pass the entries of one kind
        ).values_list("object_id", flat=True)
    )
    db.delete_entries([e.id for e in entries if e.object_id in newer])
    again = [e for e in entries if e.object_id not in newer]
    for entry in again:
        entry.state, entry.claimed_by, entry.claimed_at = Pending, "", None
        entry.last_error = errors.get(entry.id, "")
        entry.next_attempt_at = None if at_once else now + backoff(entry.attempts)
    OutboxEntry.objects.bulk_update(
        again, ["state", "claimed_by", "claimed_at", "last_error", "next_attempt_at"], batch_size=1000
    )


def _give_back(entries: list[OutboxEntry], error: str, worker: str, *, at_once: bool = False) -> int:
    """Put back the entries ``worker`` still holds, unsent; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        held = _still_held(entries, db.hold([e.id for e in entries], worker, now=now), worker, "give-back")
        _retry_later(held, dict.fromkeys((e.id for e in held), error), now, at_once=at_once)
    return len(held)


def backoff(attempts: int) -> timedelta:
    """Exponential in the attempts so far, capped, with jitter so retries do not march in step."""
    base, cap = settings.SYNC_RETRY_BASE_S, settings.SYNC_RETRY_MAX_S
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
