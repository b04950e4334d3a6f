"""The pull half of the sync: one reconciliation of a bot, every kind, never two at once.

A run holds a lease on the bot's ``BotSync`` row, taken by a conditional update that
must change one row, and renewed as the run goes; a second run finds it held and leaves.
A run whose worker died is taken over once its lease ends, and resumes where its
checkpoint says.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

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


def _take_lease(bot: Bot) -> bool:
    now = timezone.now()
    return bool(
        BotSync.objects.filter(bot=bot)
        .filter(Q(pull_lease_until__isnull=True) | Q(pull_lease_until__lt=now))
        .update(pull_lease_until=now + timedelta(seconds=settings.SYNC_PULL_LEASE_S), pull_started_at=now)
    )


def pull_bot(bot: Bot) -> dict[str, Any] | None:
    """Reconcile every kind of the bot with Userbot; None if another run holds the bot."""
    state = bot_sync(bot)
    if not _take_lease(bot):
        return None
    state.refresh_from_db()

    def renew() -> None:
        BotSync.objects.filter(bot=bot).update(
            pull_lease_until=timezone.now() + timedelta(seconds=settings.SYNC_PULL_LEASE_S)
        )

    client = client_for(bot)
    ctx = PullContext(
        bot=bot, settings=state, client=client, started_at=state.pull_started_at, renew_lease=renew
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
            except LIST_FAILURES as exc:
                errors.append(f"{kind.label}: {exc}")
                logger.warning("Pull of %s from %s failed: %s", kind.label, bot.sitekey, exc)
            except Exception as exc:
                errors.append(f"{kind.label}: {type(exc).__name__}: {exc}")
                logger.exception("Pull of %s from %s failed", kind.label, bot.sitekey)
            renew()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        logger.warning("Pull of %s failed: %s", bot.sitekey, exc)
        raise
    finally:
        error = "; ".join(errors)
        if errors:
            ctx.report["errors"] = {"kinds": len(errors)}
        client.close()
        BotSync.objects.filter(bot=bot).update(
            pull_lease_until=None,
            pull_finished_at=timezone.now() if not error else F("pull_finished_at"),
            pull_error=error,
            pull_report=ctx.report,
            reconnects=F("reconnects") + client.reconnects,
        )
    return ctx.report
