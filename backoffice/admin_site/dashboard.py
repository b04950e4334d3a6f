"""The index's dashboard: per bot, how many chat users it has, what waits to reach Userbot,
what needs an operator (conflicts, deletions on Userbot, dead letters) and when it was last
read back, how many live chats wait for an agent, and its insights (today, the last 7 full
days and the 7 before, from the stored days: never asked of Userbot here). Each figure
links to the page behind it.

Two queries whatever the number of bots: the bots with their sync figures (subqueries of
one statement), and the chat users per bot (a count of a table that may hold millions, kept
for a minute). The insights cost four more, whatever the number of bots, and only when
drawn: the template shows them to those who may view insights, so ``BotRow.insights`` reads
them, for every bot at once, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from django.core.cache import cache
from django.db.models import Count, F, IntegerField, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from backoffice.sync.gone import DELETED_FIELD
from backoffice.sync.models import OutboxEntry, SyncConflict
from backoffice.sync.selectors import bots_with_sync_health
from backoffice.userbot.models import Bot
from chatusers.models import ChatUser
from insights.models import DayNps, DayStats
from insights.ranges import utc_today
from insights.selectors import DASHBOARD_FIGURES, Trend, dashboard_figures, insights_states
from livechat.selectors import waiting_per_bot

CHATUSER_COUNTS_TTL_S = 60
CHATUSER_COUNTS_KEY = "admin-site:dashboard:chatusers-per-bot"
WEEK = 7
# The windows of ``dashboard_figures``, as the days back from today they run from and to.
DAYS_BACK = {"today": (0, 0), "last_7": (WEEK, 1), "previous_7": (2 * WEEK, WEEK + 1)}


@dataclass(frozen=True)
class Figure:
    value: int | None
    url: str


@dataclass(frozen=True)
class WindowFigure:
    """One insights figure over one window (today, or 7 days): ``days`` of its ``length``
    days hold it. None with no day read is missing; NPS is also None when no one answered."""

    value: int | None
    url: str
    days: int
    length: int

    @property
    def missing(self) -> bool:
        return self.days == 0

    @property
    def partial(self) -> bool:
        return 0 < self.days < self.length

    @property
    def html(self) -> SafeString:
        """The value in words where there is none, and how many days a partial sum covers."""
        if self.missing:
            return format_html('<span class="missing">{}</span>', "missing")
        shown = "no feedback" if self.value is None else f"{self.value:,}"
        if not self.partial:
            return format_html("{}", shown)
        return format_html(
            '{0} <span class="partial" aria-hidden="true">({1}/{2})</span>'
            '<span class="visually-hidden">, over {1} of its {2} days</span>',
            shown,
            self.days,
            self.length,
        )


@dataclass(frozen=True)
class Change:
    """The last 7 days against the 7 before: ``direction`` drawn as an arrow, ``words`` for
    those who do not see it."""

    direction: Literal["up", "down", "same"]
    amount: int
    words: str


@dataclass(frozen=True)
class InsightsFigure:
    name: str
    label: str
    today: WindowFigure
    last_7: WindowFigure
    previous_7: WindowFigure

    @property
    def change(self) -> Change | None:
        """None when the two weeks cannot be compared: either is missing, or (for sums) a
        day of either was not read, since a sum over fewer days is not a fall."""
        last, previous = self.last_7, self.previous_7
        if last.value is None or previous.value is None:
            return None
        if self.name != "nps" and (last.partial or previous.partial):
            return None
        unit = " points" if self.name == "nps" else ""
        difference = last.value - previous.value
        if difference == 0:
            return Change("same", 0, "the same as the 7 days before")
        direction: Literal["up", "down"] = "up" if difference > 0 else "down"
        return Change(
            direction, abs(difference), f"{direction} {abs(difference):,}{unit} on the 7 days before"
        )


@dataclass(frozen=True)
class BotInsights:
    figures: list[InsightsFigure]
    read_at: datetime | None
    failure: str
    failed_at: datetime | None
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
    bot_id: int = 0
    reads: InsightsReads | None = field(default=None, repr=False, compare=False)

    @property
    def insights(self) -> BotInsights | None:
        """The bot's insights figures; reading them reads every bot's (four queries)."""
        return None if self.reads is None else self.reads.by_bot.get(self.bot_id)


class InsightsReads:
    """The insights of the dashboard's bots, read on first use, for all of them at once."""

    def __init__(self, bots: list[Bot], *, today: date) -> None:
        self.bots = bots
        self.today = today
        self.queries = {  # each window's days as the insights page's query
            window: urlencode({"from": today - timedelta(days=first), "to": today - timedelta(days=last)})
            for window, (first, last) in DAYS_BACK.items()
        }

    @cached_property
    def by_bot(self) -> dict[int, BotInsights]:
        trends = dashboard_figures(bots=self.bots, today=self.today)
        states = insights_states(bots=self.bots)
        read_at, nps_today = _newest_reads(self.bots, self.today)
        result = {}
        for bot in self.bots:
            page = reverse("admin:insights_bot", args=[bot.pk])
            state = states.get(bot.pk)
            failed = state if state is not None and state.failing else None
            result[bot.pk] = BotInsights(
                figures=[
                    self._figure(name, trends[bot.pk][name], page, nps_today.get(bot.pk, 0))
                    for name in DASHBOARD_FIGURES
                ],
                read_at=read_at.get(bot.pk),
                failure=failed.last_error if failed else "",
                failed_at=failed.last_error_at if failed else None,
                url=f"{page}?{self.queries['last_7']}",
            )
        return result

    def _figure(self, name: str, trend: Trend, page: str, nps_today: int) -> InsightsFigure:
        today_days = nps_today if name == "nps" else int(trend.today is not None)
        url = {window: f"{page}?{query}" for window, query in self.queries.items()}
        return InsightsFigure(
            name=name,
            label=capfirst((DayNps if name == "nps" else DayStats)._meta.get_field(name).verbose_name),
            today=WindowFigure(trend.today, url["today"], today_days, 1),
            last_7=WindowFigure(trend.last_7, url["last_7"], trend.last_7_days, WEEK),
            previous_7=WindowFigure(trend.previous_7, url["previous_7"], trend.previous_7_days, WEEK),
        )


def _newest_reads(bots: list[Bot], today: date) -> tuple[dict[int, datetime], dict[int, int]]:
    """Per bot id, when the newest of the days behind its figures was read, and how many
    valid NPS rows today has (1 or 0: ``dashboard_figures`` says None for both a day not
    read and a day without feedback). One query."""
    span = (today - timedelta(days=2 * WEEK), today)

    def per_bot(model: type[DayStats | DayNps], kind: str) -> Any:
        return (
            model.objects.filter(bot_id__in=[bot.pk for bot in bots], date__range=span)
            .order_by()
            .values("bot_id")
            .annotate(
                kind=Value(kind), newest=Max("read_at"), today=Count("pk", filter=Q(date=today, problem=""))
            )
            .values_list("bot_id", "kind", "newest", "today")
        )

    read_at: dict[int, datetime] = {}
    nps_today: dict[int, int] = {}
    rows = per_bot(DayStats, "stats").union(per_bot(DayNps, "nps"), all=True)
    for bot_id, kind, newest, today_rows in rows:
        read_at[bot_id] = max(read_at.get(bot_id, newest), newest)
        if kind == "nps":
            nps_today[bot_id] = today_rows
    return read_at, nps_today


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


def _inbox(bot: Bot) -> str:
    return reverse("admin:livechat_bot_inbox", args=[bot.pk]) + "?status=waiting"


def dashboard_rows(*, with_chats: bool = False) -> tuple[list[BotRow], datetime]:
    """One row per bot, and when its chat users were counted; ``with_chats`` adds the chats
    waiting for an agent, which are asked of Userbot (kept half a minute). Each row's
    ``insights`` is read when first used (today being today's UTC date)."""
    deletions = (
        SyncConflict.objects.filter(
            bot=OuterRef("pk"), resolution=SyncConflict.Resolution.OPEN, field=DELETED_FIELD
        )
        .order_by()
        .values("bot")
        .annotate(n=Count("pk"))
        .values("n")
    )
    bots = list(
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
    reads = InsightsReads(bots, today=utc_today())
    sync_list = reverse("admin:sync_botsync_changelist")
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
                sync_url=reverse("admin:sync_botsync_change", args=[bot.pk]) if bot.sync_id else sync_list,
                chats_waiting=Figure(waiting[bot.pk], _inbox(bot)) if with_chats else None,
                bot_id=bot.pk,
                reads=reads,
            )
        )
    return rows, counted_at
