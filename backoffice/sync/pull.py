"""The pull half of the sync: one reconciliation of a bot, every kind, never two at once.

A run holds a lease on the bot's ``BotSync`` row, taken by a conditional update that
must change one row, and renewed as the run goes; a second run finds it held and leaves.
A run whose worker died is taken over once its lease ends, and resumes where its
checkpoint says.

Scheduled pulls come at each bot's own pace (``BotSync.pull_interval``): a bot whose
reconciliation takes long is pulled less often, within the bounds an operator sets.
``due_pulls`` is what the sweep queues, most overdue first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from backoffice.operations.progress import Cancelled, Progress
from backoffice.sync.kinds import PullContext, all_kinds
from backoffice.sync.models import BotSync
from backoffice.sync.reading import ReadFailed
from backoffice.userbot.connections import client_for
from backoffice.userbot.errors import ProtocolError, TransportError, UserbotError
from backoffice.userbot.models import Bot

logger = logging.getLogger(__name__)
# How a list read fails when Userbot, or the way to it, fails: expected, logged without a
# traceback. (A RuntimeError is a read that gave up after its retries.)
LIST_FAILURES = (TransportError, UserbotError, ProtocolError, ReadFailed, RuntimeError)


def bot_sync(bot: Bot) -> BotSync:
    """The bot's sync settings and status, made on first use."""
    return BotSync.objects.get_or_create(bot=bot)[0]


def due_pulls(now: datetime) -> list[BotSync]:
    """The bots a scheduled pull is due for at ``now`` and that no run holds, most overdue
    first (a bot never pulled before all), so that a queue of them is served fairly."""
    free = BotSync.objects.filter(Q(pull_lease_until__isnull=True) | Q(pull_lease_until__lt=now)).only(
        "bot_id", "pull_interval_s", "pull_interval_max_s", "pull_duration_s", "pull_started_at"
    )
    due = [state for state in free if state.pull_due(now)]
    due.sort(key=lambda state: (state.next_pull_due is not None, state.next_pull_due or now, state.bot_id))
    return due


def _take_lease(bot: Bot, *, due: BotSync | None) -> bool:
    now = timezone.now()
    free = BotSync.objects.filter(bot=bot).filter(
        Q(pull_lease_until__isnull=True) | Q(pull_lease_until__lt=now)
    )
    if due is not None:
        # Only while no pull has started since the bot was found due: a second scheduled run
        # of one turn, however late it comes, finds another start and leaves.
        free = free.filter(pull_started_at=due.pull_started_at)  # None: IS NULL
    return bool(
        free.update(pull_lease_until=now + timedelta(seconds=settings.SYNC_PULL_LEASE_S), pull_started_at=now)
    )


def pull_bot(
    bot: Bot, *, due: BotSync | None = None, progress: Progress | None = None
) -> dict[str, Any] | None:
    """Reconcile every kind of the bot with Userbot; None if another run holds the bot, or if
    a pull has started since ``due`` (the bot's sync row, as a scheduled run found it due).
    ``progress`` hears how far the run has read, and may cancel it (``Cancelled`` then
    leaves here, the run recorded as stopped, its checkpoint kept for the next)."""
    state = bot_sync(bot)
    if not _take_lease(bot, due=due):
        return None
    state.refresh_from_db()

    def renew() -> None:
        BotSync.objects.filter(bot=bot).update(
            pull_lease_until=timezone.now() + timedelta(seconds=settings.SYNC_PULL_LEASE_S)
        )

    client = client_for(bot)
    ctx = PullContext(
        bot=bot,
        settings=state,
        client=client,
        started_at=state.pull_started_at,
        renew_lease=renew,
        progress=progress,
    )
    errors: list[str] = []
    try:
        client.connect()
        for kind in all_kinds():
            # One list Userbot fails to give (a drop, a 500, a timeout, an answer that is no
            # list at all) does not keep the others from being read; the next pull tries it
            # again. Nor does a fault of one kind's own code: it is logged with its traceback
            # and recorded like the rest, so a bug in one mapping stops only that mapping.
            try:
                kind.pull(ctx)
            except Cancelled:
                errors.append("stopped: an operator cancelled the pull")
                raise
            except LIST_FAILURES as exc:
                errors.append(f"{kind.label}: {exc}")
                logger.warning("Pull of %s from %s failed: %s", kind.label, bot.sitekey, exc)
            except Exception as exc:
                errors.append(f"{kind.label}: {type(exc).__name__}: {exc}")
                logger.exception("Pull of %s from %s failed", kind.label, bot.sitekey)
            renew()
    except Cancelled:
        logger.info("Pull of %s cancelled by an operator", bot.sitekey)
        raise
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        logger.warning("Pull of %s failed: %s", bot.sitekey, exc)
        raise
    finally:
        error = "; ".join(errors)
        if errors:
            ctx.report["errors"] = {"kinds": len(errors)}
        client.close()
        finished = timezone.now()
        # A failed run keeps the last complete reconciliation's figures: the bot's pace is what
        # reading everything costs, not how soon an outage cut a run short.
        BotSync.objects.filter(bot=bot).update(
            pull_lease_until=None,
            pull_finished_at=F("pull_finished_at") if error else finished,
            pull_duration_s=F("pull_duration_s") if error else (finished - ctx.started_at).total_seconds(),
            pull_error=error,
            pull_report=ctx.report,
            reconnects=F("reconnects") + client.reconnects,
        )
    return ctx.report
