"""The index's dashboard: per bot, how many chat users it has, what waits to reach Userbot,
what needs an operator (conflicts, deletions on Userbot, dead letters) and when it was last
read back, and how many live chats wait for an agent; each figure links to the page behind it.

Two queries whatever the number of bots: the bots with their sync figures (subqueries of
one statement), and the chat users per bot, which is a count of a table that may hold
millions and is kept for a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from backoffice.sync.gone import DELETED_FIELD
from backoffice.sync.models import OutboxEntry, SyncConflict
from backoffice.sync.selectors import bots_with_sync_health
from chatusers.models import ChatUser
from livechat.selectors import waiting_per_bot

CHATUSER_COUNTS_TTL_S = 60
CHATUSER_COUNTS_KEY = "admin-site:dashboard:chatusers-per-bot"


@dataclass(frozen=True)
class Figure:
    value: int | None
    url: str


@dataclass(frozen=True)
class BotRow:
    name: str
    sitekey: str
    chatusers: Figure
    pending: Figure
    conflicts: Figure
    deleted_on_userbot: Figure
    dead_letters: Figure
    last_pull_at: datetime | None
    last_pull_error: str
    sync_url: str
    chats_waiting: Figure | None = None


def chatusers_per_bot() -> tuple[dict[int, int], datetime]:
    """Chat users per bot id and when they were counted (kept ``CHATUSER_COUNTS_TTL_S``)."""
    cached = cache.get(CHATUSER_COUNTS_KEY)
    if cached is not None:
        return cached
    counts = dict(
        ChatUser.objects.order_by().values("bot_id").annotate(n=Count("pk")).values_list("bot_id", "n")
    )
    result = (counts, timezone.now())
    cache.set(CHATUSER_COUNTS_KEY, result, CHATUSER_COUNTS_TTL_S)
    return result


def _link(name: str, **query: Any) -> str:
    url = reverse(f"admin:{name}")
    return f"{url}?{urlencode(query)}" if query else url


def dashboard_rows(*, with_chats: bool = False) -> tuple[list[BotRow], datetime]:
    """One row per bot, and when its chat users were counted; ``with_chats`` adds the chats
    waiting for an agent, which are asked of Userbot (kept half a minute)."""
    deletions = (
        SyncConflict.objects.filter(
            bot=OuterRef("pk"), resolution=SyncConflict.Resolution.OPEN, field=DELETED_FIELD
        )
        .order_by()
        .values("bot")
        .annotate(n=Count("pk"))
        .values("n")
    )
    bots = (
        bots_with_sync_health()
        .annotate(
            deletions=Coalesce(Subquery(deletions), Value(0), output_field=IntegerField()),
            sync_id=F("sync__pk"),
        )
        # The server and key too: the chats waiting are asked of each bot's Userbot.
        .only("sitekey", "name", "server_url", "apikey_ciphertext")
        .order_by("name", "pk")
    )
    counts, counted_at = chatusers_per_bot()
    waiting = waiting_per_bot(bots) if with_chats else {}
    rows = []
    for bot in bots:
        on_bot = {"bot__id__exact": bot.pk}
        open_ = {**on_bot, "resolution__exact": SyncConflict.Resolution.OPEN}
        rows.append(
            BotRow(
                name=bot.name,
                sitekey=bot.sitekey,
                chatusers=Figure(counts.get(bot.pk, 0), _link("chatusers_chatuser_changelist", **on_bot)),
                pending=Figure(
                    bot.queue_depth,
                    _link("sync_outboxentry_changelist", **on_bot, state=OutboxEntry.State.PENDING),
                ),
                conflicts=Figure(bot.open_conflicts, _link("sync_syncconflict_changelist", **open_)),
                deleted_on_userbot=Figure(
                    bot.deletions, _link("sync_syncconflict_changelist", **open_, kind="deletion")
                ),
                dead_letters=Figure(bot.dead_count, _link("sync_outboxentry_dead", **on_bot)),
                last_pull_at=bot.last_pull_at,
                last_pull_error=bot.last_pull_error or "",
                sync_url=(
                    reverse("admin:sync_botsync_change", args=[bot.pk])
                    if bot.sync_id
                    else reverse("admin:sync_botsync_changelist")
                ),
                chats_waiting=(
                    Figure(
                        waiting[bot.pk],
                        reverse("admin:livechat_bot_inbox", args=[bot.pk]) + "?status=waiting",
                    )
                    if with_chats
                    else None
                ),
            )
        )
    return rows, counted_at
