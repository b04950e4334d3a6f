"""Claims on outbox entries: which of a bot's entries a relay may take, taking them, and
the lease a claim is.

A claim is one statement that only takes pending entries whose object has nothing in flight
(``SKIP LOCKED`` on PostgreSQL), so no change is sent by two workers, and per object one
operation is in flight at a time. It is a lease (``SYNC_CLAIM_LEASE_S``): a worker that dies
leaves its entries in flight until the lease ends, and ``release_stale`` gives them back.
Every renewal is a compare-and-set on the claim (``db.hold``), which reports what the
worker no longer holds.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from backoffice.sync import db
from backoffice.sync.models import OutboxEntry
from backoffice.userbot.models import Bot

logger = logging.getLogger(__name__)
Pending = OutboxEntry.State.PENDING
InFlight = OutboxEntry.State.IN_FLIGHT


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
    return still_held(entries, held, worker, "renew")


def still_held(entries: list[OutboxEntry], held: set[int], worker: str, when: str) -> list[OutboxEntry]:
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
