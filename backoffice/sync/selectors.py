"""How the sync of each bot is doing, read in one query whatever the number of bots."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, IntegerField, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.userbot.models import Bot

QUEUED = (OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT)


def _per_bot(queryset: QuerySet[Any], aggregate: Any, bot: str) -> Subquery:
    # Grouped by bot inside the subquery: each bot's figure is one range of an index that
    # leads with the bot (outbox_pending, outbox_held, syncconflict_bot_open), not a join of the tables.
    return Subquery(
        queryset.filter(bot=OuterRef(bot)).order_by().values("bot").annotate(v=aggregate).values("v")
    )


def _status_annotations(bot: str = "bot") -> dict[str, Any]:
    """The figures of each row's bot, named by ``bot`` (``"bot"`` from a BotSync, ``"pk"``
    from a Bot)."""

    def count(queryset: QuerySet[Any]) -> Coalesce:
        return Coalesce(_per_bot(queryset, Count("pk"), bot), Value(0), output_field=IntegerField())

    return {
        "queue_depth": count(OutboxEntry.objects.filter(state__in=QUEUED)),
        "oldest_pending_at": _per_bot(
            OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING), Min("created_at"), bot
        ),
        "dead_count": count(OutboxEntry.objects.filter(state=OutboxEntry.State.DEAD)),
        "open_conflicts": count(SyncConflict.objects.filter(resolution=SyncConflict.Resolution.OPEN)),
    }


def bot_syncs_with_status(queryset: QuerySet[BotSync]) -> QuerySet[BotSync]:
    """Bot syncs annotated with ``queue_depth`` (pending and in flight), ``oldest_pending_at``,
    ``dead_count`` and ``open_conflicts``, each bot's in one query whatever their number."""
    return queryset.annotate(**_status_annotations())


def bots_with_sync_health() -> QuerySet[Bot]:
    """Every bot, by sitekey, with the figures of ``bot_syncs_with_status`` and its last pull
    (``last_pull_at``, ``last_pull_error``), in one query: what a monitor reads. A bot whose
    sync has never run has no BotSync row yet, and is listed all the same."""
    return (
        Bot.objects.order_by("sitekey")
        .annotate(
            **_status_annotations(bot="pk"),
            last_pull_at=F("sync__pull_finished_at"),
            last_pull_error=F("sync__pull_error"),
        )
        .only("sitekey")
    )


def open_conflict_count(*, object_type: str, object_id: int) -> int:
    """How many open conflicts an object has (what its change page warns of)."""
    return SyncConflict.objects.filter(
        object_type=object_type, object_id=object_id, resolution=SyncConflict.Resolution.OPEN
    ).count()
