"""The tables of an insights page, built from what the selectors read: activity, weekly
NPS, sales and conversion per day, the audience by channel and by language, and the
account's bots. ``admin_charts`` says how a table becomes cells, a chart and a CSV."""

from __future__ import annotations

from datetime import date, datetime

from django.urls import reverse
from django.utils.http import urlencode

from chatusers.models import Channel
from insights.admin_charts import MISSING, ChartTable, Column, Row, read_sentence
from insights.models import AccountBots, Audience
from insights.ranges import days_of
from insights.selectors import Series, WeekNps

ACTIVITY = (
    Column("sessions", "Sessions", drawn=True),
    Column("messages", "Messages", drawn=True),
    Column("chatusers", "New chat users", drawn=True),
    Column("handovers", "Handovers", drawn=True),
)
WEEKLY_NPS = (
    Column("counted", "Days read"),
    Column("positive", "Positive", drawn=True, tone="positive"),
    Column("neutral", "Neutral", drawn=True, tone="neutral"),
    Column("negative", "Negative", drawn=True, tone="negative"),
    Column("total", "Ratings"),
    Column("nps", "NPS", kind="score", drawn=True, axis="y2", shape="line", tone="4"),
)
SALES = (
    Column("orders", "Orders", drawn=True),
    Column("revenue", "Revenue", kind="money", drawn=True, axis="y2", split_by="currency", shape="line"),
    Column("currency", "Currency", kind="text"),
)
CONVERSION = (Column("conversion_rate", "Conversion rate (%)", kind="percent", drawn=True),)
AUDIENCE = (Column("chatusers", "Chat users", drawn=True),)
BOTS = (
    Column("sitekey", "Sitekey", kind="text"),
    Column("sessions", "Sessions"),
    Column("messages", "Messages"),
    Column("chatusers", "New chat users"),
)
BOT_SORTS = ("name", "sitekey", "sessions", "messages", "chatusers")
DEFAULT_BOT_SORT = "-sessions"


def _day_rows(
    series: Series, kind: str, columns: tuple[Column, ...], reads: dict[date, datetime]
) -> tuple[Row, ...]:
    keys = [column.key for column in columns]
    empty = (None,) * len(keys)
    rows = []
    for day in series.days:
        figures = getattr(day, kind)
        if figures is None:
            values, note = empty, day.problems.get(kind, MISSING)
        else:
            values, note = tuple([figures[key] for key in keys]), ""
        rows.append(Row(day.date.isoformat(), values, note, reads.get(day.date)))
    return tuple(rows)


def activity_table(series: Series, reads: dict[date, datetime]) -> ChartTable:
    rows = _day_rows(series, "stats", ACTIVITY, reads)
    return ChartTable(
        "activity", "Activity per day", "line", "Day", ACTIVITY, rows, read_sentence(list(reads.values()))
    )


def weekly_nps_table(weeks: list[WeekNps], reads: dict[date, datetime]) -> ChartTable:
    rows = []
    for week in weeks:
        length = (week.end - week.start).days + 1
        if week.counted == 0:
            note = MISSING
        elif week.counted < length:
            note = f"{length - week.counted} of {length} days missing or not valid"
        else:
            note = "no feedback" if week.total == 0 else ""
        counts = (week.positive, week.neutral, week.negative, week.total)
        values = (week.counted, *(c if week.counted else None for c in counts), week.nps)
        read = [reads[day] for day in days_of(week.start, week.end) if day in reads]
        label = f"{week.year}-W{week.week:02d} ({week.start:%m-%d} to {week.end:%m-%d})"
        rows.append(Row(label, values, note, max(read) if read else None))
    return ChartTable(
        "nps",
        "NPS per week",
        "bar",
        "Week",
        WEEKLY_NPS,
        tuple(rows),
        read_sentence(list(reads.values())),
        stacked=True,
        y2_bounds=(-100, 100),
    )


def sales_table(series: Series, reads: dict[date, datetime]) -> ChartTable:
    rows = _day_rows(series, "sales", SALES, reads)
    return ChartTable(
        "sales", "Sales per day", "bar", "Day", SALES, rows, read_sentence(list(reads.values()))
    )


def conversion_table(series: Series, reads: dict[date, datetime]) -> ChartTable:
    rows = _day_rows(series, "sales", CONVERSION, reads)
    return ChartTable(
        "conversion",
        "Conversion rate per day",
        "line",
        "Day",
        CONVERSION,
        rows,
        read_sentence(list(reads.values())),
    )


def _audience_rows(audience: Audience | None, split: str, bot_id: int) -> tuple[Row, ...]:
    if audience is None or audience.problem:
        return ()
    names = dict(Channel.choices)
    counts = getattr(audience, f"by_{split}")
    changelist = reverse("admin:chatusers_chatuser_changelist")
    rows = []
    for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        label = names.get(key, key) if split == "channel" else (key or "(none)")
        query = urlencode({"bot__id__exact": bot_id, f"{split}__exact": key})
        rows.append(Row(label, (count,), "", audience.read_at, f"{changelist}?{query}"))
    return tuple(rows)


def audience_table(audience: Audience | None, split: str, *, bot_id: int) -> ChartTable:
    """The range's chat users by ``channel`` or ``language``, each bar a link to them."""
    read = [audience.read_at] if audience is not None else []
    return ChartTable(
        f"audience_{split}",
        f"Chat users by {split}",
        "bar",
        split.capitalize(),
        AUDIENCE,
        _audience_rows(audience, split, bot_id),
        read_sentence(read),
    )


def bots_sort(value: str) -> str:
    """A sort of the account's bots the page offers (a column, ``-`` first for descending)."""
    return value if value.removeprefix("-") in BOT_SORTS else DEFAULT_BOT_SORT


def bots_table(account: AccountBots | None, *, sort: str, pages: dict[str, str]) -> ChartTable:
    """The account's bots over the range, sorted by ``sort``; ``pages`` links the bots set up
    here (by sitekey) to their insights page."""
    entries = list(account.bots) if account is not None else []
    key = sort.removeprefix("-")
    # Names tie-break, so the order is the same on the page and in the CSV.
    entries.sort(key=lambda e: str(e["name"]).casefold())
    entries.sort(
        key=lambda e: str(e[key]).casefold() if key in ("name", "sitekey") else e[key],
        reverse=sort.startswith("-"),
    )
    rows = tuple(
        Row(
            str(entry["name"]),
            tuple(entry[c.key] for c in BOTS),
            "",
            account.read_at if account is not None else None,
            pages.get(entry["sitekey"], ""),
        )
        for entry in entries
    )
    read = [account.read_at] if account is not None else []
    return ChartTable("bots", "The account's bots", "", "Bot", BOTS, rows, read_sentence(read))
