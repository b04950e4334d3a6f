"""Celery tasks of the sync engine: thin, by bot id, calling the relay and the pull.

``sync.push`` is woken after a change commits; ``sync.sweep`` runs every few seconds
(beat) and is the guarantee: it gives back stale claims, and queues a push for every bot
with due entries and a pull for every bot whose interval has passed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from backoffice.sync.claims import due_entries, release_stale
from backoffice.sync.kinds import kind_for
from backoffice.sync.pull import bot_sync, pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot.errors import ConnectFailed, TransportError, UserbotError
from backoffice.userbot.models import Bot

logger = logging.getLogger(__name__)
# A queued push that never starts (its worker is gone) stops holding back wakes after this.
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
        pull.delay(bot.pk)
    return str(report)


@shared_task(name="sync.pull", acks_late=True)
def pull(bot_id: int) -> str:
    """Reconcile the bot with Userbot; a failure is recorded on its sync page and the next
    sweep tries again."""
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return "no such bot"
    try:
        report = pull_bot(bot)
    except (ConnectFailed, TransportError, UserbotError, RuntimeError) as exc:
        return f"failed: {exc}"
    return "already running" if report is None else str(report)


@shared_task(name="sync.sweep")
def sweep() -> str:
    released = release_stale()
    pushes = pulls = 0
    now = timezone.now()
    for bot in Bot.objects.all():
        state = bot_sync(bot)
        if due_entries(bot).exists():
            wake(bot.pk)
            pushes += 1
        due = state.pull_started_at is None or state.pull_started_at < now - timedelta(
            seconds=state.pull_interval_s
        )
        if due and (state.pull_lease_until is None or state.pull_lease_until < now):
            pull.delay(bot.pk)
            pulls += 1
    return f"released {released}, queued {pushes} pushes and {pulls} pulls"


def wake(bot_id: int) -> None:
    """Queue a push of the bot unless one is queued and not started yet: that one will see
    this change, so a thousand commits in a row queue one run, not a thousand."""
    # Only a cache all processes share can tell; a per-process one would hold back wakes
    # that no run of this process is going to serve.
    if not settings.SYNC_WAKE_SHARED_CACHE or cache.add(_queued_key(bot_id), 1, timeout=QUEUED_TTL_S):
        push.delay(bot_id)


def _queued_key(bot_id: int) -> str:
    return f"sync:push-queued:{bot_id}"


@shared_task(name="sync.refresh", acks_late=True)
def refresh(bot_id: int, label: str, events: list[dict[str, Any]]) -> str:
    """Apply the objects of kind ``label`` that a batch of Userbot's change events names; what
    a targeted read cannot settle queues a full pull."""
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return "no such bot"
    try:
        counts = kind_for(label).refresh(bot, events)
    except (ConnectFailed, TransportError, UserbotError) as exc:
        pull.delay(bot_id)
        return f"failed, pull queued: {exc}"
    if counts["unresolved"]:
        pull.delay(bot_id)
    return str(counts)
