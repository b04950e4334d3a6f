"""A bot's numbers as read from Userbot, kept here so that pages draw from them alone.

Days are UTC dates. A day Userbot answered is one row per bot, date and kind (``DayStats``,
``DayNps``, ``DaySales``); a day it has not answered has no row and is drawn as missing.
A day whose answer broke the contract is kept with its numbers null and the reason in
``problem``: drawn as missing, never as zero. Each row says when it was read (``read_at``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


def _null_iff_problem(prefix: str, *fields: str) -> models.CheckConstraint:
    """Valid rows hold every number; rows with a problem hold none."""
    valid = Q(problem="", **{f"{name}__isnull": False for name in fields})
    invalid = ~Q(problem="") & Q(**{f"{name}__isnull": True for name in fields})
    return models.CheckConstraint(condition=valid | invalid, name=f"{prefix}_numbers_iff_no_problem")


class DayFigures(models.Model):
    """What every day row holds besides its numbers."""

    # The unique (bot, date) index serves range reads (bot = x and date between a and b)
    # and lookups by bot alone, so the foreign key needs no index of its own.
    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+", db_index=False)
    date = models.DateField()
    read_at = models.DateTimeField()
    problem = models.TextField(blank=True, help_text="Why the day's answer was not valid; empty if it was.")

    class Meta:
        abstract = True
        ordering = ["bot", "date"]

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} of bot {self.bot_id} on {self.date}"


class DayStats(DayFigures):
    """A day's activity (``rawstats.all``): chats started, messages sent, chat users created
    and chats handed to an agent."""

    sessions = models.PositiveIntegerField(null=True, blank=True)
    messages = models.PositiveIntegerField(null=True, blank=True)
    chatusers = models.PositiveIntegerField("new chat users", null=True, blank=True)
    handovers = models.PositiveIntegerField(null=True, blank=True)

    class Meta(DayFigures.Meta):
        verbose_name = "day's activity"
        verbose_name_plural = "days' activity"
        constraints = [
            models.UniqueConstraint(fields=["bot", "date"], name="insights_daystats_bot_date"),
            _null_iff_problem("insights_daystats", "sessions", "messages", "chatusers", "handovers"),
        ]


class DayNps(DayFigures):
    """A day's feedback as net promoter score (``rawstats.count-nps`` for that day alone)."""

    positive = models.PositiveIntegerField(null=True, blank=True)
    neutral = models.PositiveIntegerField(null=True, blank=True)
    negative = models.PositiveIntegerField(null=True, blank=True)
    total = models.PositiveIntegerField(null=True, blank=True)
    nps = models.SmallIntegerField("NPS", null=True, blank=True)

    class Meta(DayFigures.Meta):
        verbose_name = "day's NPS"
        verbose_name_plural = "days' NPS"
        constraints = [
            models.UniqueConstraint(fields=["bot", "date"], name="insights_daynps_bot_date"),
            _null_iff_problem("insights_daynps", "positive", "neutral", "negative", "total", "nps"),
            models.CheckConstraint(
                condition=Q(nps__isnull=True) | Q(nps__gte=-100, nps__lte=100),
                name="insights_daynps_nps_range",
            ),
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(total=F("positive") + F("neutral") + F("negative")),
                name="insights_daynps_total_adds_up",
            ),
        ]


class DaySales(DayFigures):
    """A day's sales (``rawstats.get`` for that day alone)."""

    orders = models.PositiveIntegerField(null=True, blank=True)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="ISO 4217 code; empty with a problem.")
    conversion_rate = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True, help_text="Orders per visit, 0 to 1."
    )

    class Meta(DayFigures.Meta):
        verbose_name = "day's sales"
        verbose_name_plural = "days' sales"
        constraints = [
            models.UniqueConstraint(fields=["bot", "date"], name="insights_daysales_bot_date"),
            _null_iff_problem("insights_daysales", "orders", "revenue", "conversion_rate"),
            models.CheckConstraint(
                condition=Q(conversion_rate__isnull=True) | Q(conversion_rate__gte=0, conversion_rate__lte=1),
                name="insights_daysales_rate_range",
            ),
        ]


class RangeFigures(models.Model):
    """Numbers Userbot gives for a whole range at once, kept per range read (the latest)."""

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+", db_index=False)
    start = models.DateField()
    end = models.DateField()
    read_at = models.DateTimeField()
    problem = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["bot", "start", "end"]

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} of bot {self.bot_id}, {self.start} to {self.end}"


class RangeTotals(RangeFigures):
    """The range's totals (``rawstats.count-sessions`` and ``rawstats.count-messages``), read
    with its days, so that a page can check them against the sum of the days."""

    sessions = models.PositiveIntegerField(null=True, blank=True)
    messages = models.PositiveIntegerField(null=True, blank=True)

    class Meta(RangeFigures.Meta):
        verbose_name = "range totals"
        verbose_name_plural = "range totals"
        constraints = [
            models.UniqueConstraint(fields=["bot", "start", "end"], name="insights_rangetotals_range"),
            models.CheckConstraint(condition=Q(start__lte=F("end")), name="insights_rangetotals_ordered"),
        ]


class Audience(RangeFigures):
    """The range's chat users (``chatusers.insights``): ``total`` created by its end, ``new``
    created in it, ``active`` seen in it, and ``total`` split by channel and by language."""

    total = models.PositiveIntegerField(null=True, blank=True)
    new = models.PositiveIntegerField(null=True, blank=True)
    active = models.PositiveIntegerField(null=True, blank=True)
    by_channel = models.JSONField(default=dict, blank=True)
    by_language = models.JSONField(default=dict, blank=True)

    class Meta(RangeFigures.Meta):
        verbose_name = "audience"
        verbose_name_plural = "audiences"
        constraints = [
            models.UniqueConstraint(fields=["bot", "start", "end"], name="insights_audience_range"),
            models.CheckConstraint(condition=Q(start__lte=F("end")), name="insights_audience_ordered"),
        ]


class AccountBots(models.Model):
    """Every bot of the account over a range (``bot.stats``), read through one bot's login:
    ``bots`` is a list of ``{"sitekey", "name", "sessions", "messages", "chatusers"}`` ordered
    by sitekey; entries that broke the contract are left out and named in ``problem``."""

    start = models.DateField()
    end = models.DateField()
    bots = models.JSONField(default=list, blank=True)
    read_at = models.DateTimeField()
    problem = models.TextField(blank=True)

    class Meta:
        verbose_name = "account's bots"
        verbose_name_plural = "account's bots"
        ordering = ["start", "end"]
        constraints = [
            models.UniqueConstraint(fields=["start", "end"], name="insights_accountbots_range"),
            models.CheckConstraint(condition=Q(start__lte=F("end")), name="insights_accountbots_ordered"),
        ]

    def __str__(self) -> str:
        return f"Account's bots, {self.start} to {self.end}"


class InsightsState(models.Model):
    """How reading a bot's numbers goes: when it last succeeded, and the last failure that
    the tasks gave up on (kept after a later success; ``failing`` says whether it is over)."""

    bot = models.OneToOneField("userbot.Bot", on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_collected_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "insights collection"
        verbose_name_plural = "insights collection"

    def __str__(self) -> str:
        return f"Insights of bot {self.bot_id}"

    @property
    def failing(self) -> bool:
        """Whether the last failure came after the last success."""
        if self.last_error_at is None:
            return False
        return self.last_collected_at is None or self.last_error_at > self.last_collected_at
