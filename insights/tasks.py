"""Celery tasks of insights: thin, by bot id, calling the services.

``insights.collect`` runs every INSIGHTS_COLLECT_S seconds (beat): it reads yesterday and
today for every bot, then queues ``insights.backfill`` for each bot it read that misses days
of the last INSIGHTS_BACKFILL_DAYS, so a bot just added fills in the background.

Only a transient failure (no answer, 429, 5xx) is tried again, with exponential backoff and
jitter, at most MAX_RETRIES times; a failure given up on is logged and kept on the bot's
``InsightsState``, where an operator sees it. Both tasks only read and overwrite, so running
one twice, or two at once, stores the same rows.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings

from backoffice.userbot.models import Bot
from insights.ranges import utc_today
from insights.selectors import bots_missing_days
from insights.services import (
    RefreshFailed,
    insights_backfill,
    insights_refresh,
    insights_state_record_failure,
)

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BASE_S = 30.0
RETRY_MAX_S = 900.0


def retry_delay(retries: int) -> float:
    """Seconds before the next try: doubling from RETRY_BASE_S up to RETRY_MAX_S, with full
    jitter, so that bots failing together do not come back together."""
    return random.uniform(0, min(RETRY_MAX_S, RETRY_BASE_S * 2**retries))


@shared_task(bind=True, name="insights.collect", max_retries=MAX_RETRIES)
def collect(self: Any, bot_ids: list[int] | None = None) -> str:
    """Read yesterday and today for every bot (or, on a retry, the bots that failed
    transiently), then queue a backfill for each bot read that misses days."""
    bots = list(Bot.objects.all() if bot_ids is None else Bot.objects.filter(pk__in=bot_ids))
    today = utc_today()
    read: list[Bot] = []
    again: list[int] = []
    for bot in bots:
        try:
            insights_refresh(bot=bot, start=today - timedelta(days=1), end=today)
        except RefreshFailed as exc:
            if exc.transient and self.request.retries < self.max_retries:
                again.append(bot.pk)
            else:
                _give_up(bot, exc)
        else:
            read.append(bot)
    first_day = today - timedelta(days=settings.INSIGHTS_BACKFILL_DAYS - 1)
    missing = bots_missing_days(bots=read, start=first_day, end=today) if read else []
    for bot_id in missing:
        backfill.delay(bot_id)
    if again:
        raise self.retry(kwargs={"bot_ids": again}, countdown=retry_delay(self.request.retries))
    return f"read {len(read)} of {len(bots)} bots; queued {len(missing)} backfills"


@shared_task(bind=True, name="insights.backfill", acks_late=True, max_retries=MAX_RETRIES)
def backfill(self: Any, bot_id: int) -> str:
    """Read the bot's missing days of the last INSIGHTS_BACKFILL_DAYS, oldest first, at most
    31 days a request; a retry goes on from the first day still missing."""
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return "no such bot"
    try:
        reports = insights_backfill(bot=bot, days=settings.INSIGHTS_BACKFILL_DAYS)
    except RefreshFailed as exc:
        if exc.transient and self.request.retries < self.max_retries:
            raise self.retry(countdown=retry_delay(self.request.retries)) from exc
        _give_up(bot, exc)
        return f"failed: {exc.reason}"
    return f"read {len(reports)} ranges: " + "; ".join(str(report) for report in reports)


def _give_up(bot: Bot, exc: RefreshFailed) -> None:
    logger.warning("Insights of bot %s were not read: %s", bot.pk, exc.reason)
    insights_state_record_failure(bot=bot, reason=exc.reason)
