"""Celery tasks of the sync engine: thin, by bot id, calling the relay and the pull.

``sync.push`` is woken after a change commits; ``sync.sweep`` runs every few seconds
(beat) and is the guarantee: it gives back stale claims, and queues a push for every bot
with due entries and a pull for every bot whose next pull is due (``BotSync.next_pull_due``),
most overdue first, once: a bot's pull that is queued and not started yet is not queued
again, and a scheduled pull that finds its bot pulled meanwhile leaves without work.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from backoffice.sync.claims import due_entries, release_stale
from backoffice.sync.kinds import kind_for
from backoffice.sync.pull import bot_sync, due_pulls, pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot.connections import ClientOf, client_for
from backoffice.userbot.errors import ConnectFailed, TransportError, UserbotError
from backoffice.userbot.models import Bot

logger = logging.getLogger(__name__)
# A queued push, or pull asked for now, that never starts (its worker is gone) stops holding
# back the next asks after this.
QUEUED_TTL_S = 30


@shared_task(name="sync.push", acks_late=True)
def push(bot_id: int) -> str:
    """Push the bot's due outbox entries. Safe to run twice at once: claims never overlap."""
    # From here on this run sees every entry committed, so the next wake must queue anew.
    cache.delete(_queued_key(bot_id))
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return "no such bot"
    report = push_pending(bot)
    if report.needs_pull and settings.SYNC_WAKE_ON_COMMIT:
        # A field Userbot changed too was held back; the pull records the conflict.
        pull_now(bot.pk)
    return str(report)


@shared_task(name="sync.pull", acks_late=True)
def pull(bot_id: int, when_due: bool = False) -> str:
    """Reconcile the bot with Userbot. The sweep's runs (``when_due``) reconcile only if the
    bot is still due when they start; the others (pull now, an event a targeted read could
    not settle, a push that met Userbot's change) whatever the schedule. A failure is
    recorded on the bot's sync page and the next sweep tries again."""
    # From here on this run reads everything anew, so the next ask must queue anew.
    cache.delete(_pull_queued_key(bot_id, when_due=when_due))
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return "no such bot"
    due = None
    if when_due:
        due = bot_sync(bot)
        if not due.pull_due(timezone.now()):
            return "not due"  # pulled since it was queued: a duplicate, or a pull asked for now
    try:
        report = pull_bot(bot, due=due)
    except (ConnectFailed, TransportError, UserbotError, RuntimeError) as exc:
        return f"failed: {exc}"
    return "already running" if report is None else str(report)


@shared_task(name="sync.sweep")
def sweep() -> str:
    released = release_stale()
    pushes = pulls = 0
    for bot in Bot.objects.filter(sync__isnull=True):
        bot_sync(bot)  # a new bot's first pull is due at once
    for bot in Bot.objects.all():
        if due_entries(bot).exists():
            wake(bot.pk)
            pushes += 1
    # Most overdue first: one slow bot's turn never comes before another's that waited longer.
    for state in due_pulls(timezone.now()):
        # A pull whose message is lost holds its bot back one "reconciled at least every".
        ttl = max(state.pull_interval_s, state.pull_interval_max_s, 1)
        if _queue_once(_pull_queued_key(state.bot_id, when_due=True), ttl):
            pull.delay(state.bot_id, when_due=True)
            pulls += 1
    return f"released {released}, queued {pushes} pushes and {pulls} pulls"


def wake(bot_id: int) -> None:
    """Queue a push of the bot unless one is queued and not started yet: that one will see
    this change, so a thousand commits in a row queue one run, not a thousand."""
    if _queue_once(_queued_key(bot_id), QUEUED_TTL_S):
        push.delay(bot_id)


def pull_now(bot_id: int) -> None:
    """Queue a pull of the bot whatever its schedule, unless one so queued has not started
    yet: that one reads everything after this ask, so a burst of asks queues one run."""
    if _queue_once(_pull_queued_key(bot_id, when_due=False), QUEUED_TTL_S):
        pull.delay(bot_id)


def _queue_once(key: str, ttl: float) -> bool:
    """Whether to queue the run that ``key`` marks: not while it is marked queued already."""
    # Only a cache all processes share can tell; a per-process one would hold back runs that
    # no run of this process is going to serve. Without one every ask queues (a scheduled
    # pull then finds its bot pulled and leaves).
    return not settings.SYNC_WAKE_SHARED_CACHE or cache.add(key, 1, timeout=ttl)


def _queued_key(bot_id: int) -> str:
    return f"sync:push-queued:{bot_id}"


def _pull_queued_key(bot_id: int, *, when_due: bool) -> str:
    return f"sync:pull-queued:{bot_id}" if when_due else f"sync:pull-now-queued:{bot_id}"


@shared_task(name="sync.refresh", acks_late=True)
def refresh(bot_id: int, label: str, events: list[dict[str, Any]]) -> str:
    """Apply the objects of kind ``label`` that a batch of Userbot's change events names, over
    a connection of this run's own; what a targeted read cannot settle queues a full pull."""
    return refresh_events(bot_id, label, events)


def refresh_events(
    bot_id: int, label: str, events: list[dict[str, Any]], *, client_of: ClientOf = client_for
) -> str:
    """What ``sync.refresh`` does, over the client ``client_of(bot)`` lends: by default one
    opened for this batch and closed after it; the event listener lends one it keeps
    logged in between batches (``KeptClients.borrow``). Its reads are safe to repeat, but
    a failed one is not repeated: the pull it queues reads everything again."""
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return "no such bot"
    with client_of(bot) as client:
        try:
            counts = kind_for(label).refresh(bot, events, client=client)
        except (ConnectFailed, TransportError, UserbotError) as exc:
            pull_now(bot_id)
            return f"failed, pull queued: {exc}"
    if counts["unresolved"]:
        pull_now(bot_id)
    return str(counts)
