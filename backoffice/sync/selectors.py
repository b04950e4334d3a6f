"""How the sync of each bot is doing, read in one query whatever the number of bots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, IntegerField, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.userbot.models import Bot

QUEUED = (OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT)


def _per_bot(queryset: QuerySet[Any], aggregate: Any, bot_ref: str) -> Subquery:
    # Grouped by bot inside the subquery: each bot's figure is one range of an index that
    # leads with the bot (outbox_pending, outbox_held, syncconflict_bot_open), not a join of the tables.
    return Subquery(
        queryset.filter(bot=OuterRef(bot_ref)).order_by().values("bot").annotate(v=aggregate).values("v")
    )


def _status_annotations(bot_ref: str) -> dict[str, Any]:
    def count(queryset: QuerySet[Any]) -> Coalesce:
        return Coalesce(_per_bot(queryset, Count("pk"), bot_ref), Value(0), output_field=IntegerField())

    return {
        "queue_depth": count(OutboxEntry.objects.filter(state__in=QUEUED)),
        "oldest_pending_at": _per_bot(
            OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING), Min("created_at"), bot_ref
        ),
        "dead_count": count(OutboxEntry.objects.filter(state=OutboxEntry.State.DEAD)),
        "open_conflicts": count(SyncConflict.objects.filter(resolution=SyncConflict.Resolution.OPEN)),
    }


def bot_syncs_with_status(queryset: QuerySet[BotSync] | None = None) -> QuerySet[BotSync]:
    """Bot syncs annotated with ``queue_depth`` (pending and in flight), ``oldest_pending_at``,
    ``dead_count`` and ``open_conflicts``."""
    queryset = BotSync.objects.all() if queryset is None else queryset
    return queryset.annotate(**_status_annotations("bot"))


@dataclass(frozen=True)
class SyncStatus:
    """One bot's sync at a glance: its queue, its dead letters and conflicts, and its last runs."""

    bot: Bot
    queue_depth: int
    oldest_pending_at: datetime | None
    dead_count: int
    open_conflicts: int
    pull_started_at: datetime | None
    pull_finished_at: datetime | None
    pull_error: str
    pull_report: dict[str, Any]
    push_finished_at: datetime | None
    push_error: str
    reconnects: int

    def oldest_pending_age(self, now: datetime | None = None) -> timedelta | None:
        if self.oldest_pending_at is None:
            return None
        return (now or timezone.now()) - self.oldest_pending_at


def sync_statuses(bots: QuerySet[Bot] | None = None) -> list[SyncStatus]:
    """The sync status of each bot (all by default), in one query. A bot the engine never ran
    for has no ``BotSync`` yet: it shows no runs, and whatever its queue already holds."""
    bots = Bot.objects.all() if bots is None else bots
    rows = bots.select_related("sync").annotate(**_status_annotations("pk"))
    statuses = []
    for bot in rows:
        try:
            runs = bot.sync
        except BotSync.DoesNotExist:
            runs = BotSync(bot=bot)
        statuses.append(
            SyncStatus(
                bot=bot,
                queue_depth=bot.queue_depth,
                oldest_pending_at=bot.oldest_pending_at,
                dead_count=bot.dead_count,
                open_conflicts=bot.open_conflicts,
                pull_started_at=runs.pull_started_at,
                pull_finished_at=runs.pull_finished_at,
                pull_error=runs.pull_error,
                pull_report=runs.pull_report,
                push_finished_at=runs.push_finished_at,
                push_error=runs.push_error,
                reconnects=runs.reconnects,
            )
        )
    return statuses


def sync_status(*, bot: Bot) -> SyncStatus:
    """One bot's sync status."""
    [status] = sync_statuses(Bot.objects.filter(pk=bot.pk))
    return status


def open_conflict_count(*, object_type: str, object_id: int) -> int:
    """How many open conflicts an object has (what its change page warns of)."""
    return SyncConflict.objects.filter(
        object_type=object_type, object_id=object_id, resolution=SyncConflict.Resolution.OPEN
    ).count()
