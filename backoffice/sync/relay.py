"""The push half of the sync: claim outbox entries, send them in bulk, record what came back.

Any number of workers may run ``push_pending`` for one bot at once: each takes its entries
by a claim (``claims.py``), a lease that a dead worker's entries come back from (every
operation the kinds send is safe to repeat, so the send that may have happened before the
crash does no harm when it is repeated).

Outcomes: success records the new remote id, snapshot and ``updated_at`` on the object's
sync record and deletes the entry; a transient failure puts the entry back with a jittered backoff;
a permanent one moves it to the dead-letter list with the reason, and the entries behind
it go on.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from backoffice.sync import db
from backoffice.sync.claims import claim, release_stale, renew, still_held, worker_name
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
            kept = still_held([i.entry for i in items], held, worker, "completion")
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
                digest=i.remote_digest,
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
        held = still_held(entries, db.hold([e.id for e in entries], worker, now=now), worker, "give-back")
        _retry_later(held, dict.fromkeys((e.id for e in held), error), now, at_once=at_once)
    return len(held)


def backoff(attempts: int) -> timedelta:
    """Exponential in the attempts so far, capped, with jitter so retries do not march in step."""
    base, cap = settings.SYNC_RETRY_BASE_S, settings.SYNC_RETRY_MAX_S
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
