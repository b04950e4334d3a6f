"""A bot's insights page at three years of stored days and 200,000 feedback rows, on PostgreSQL.

Makes the database ``bo_bench_insights`` afresh on the server of ``DATABASE_URL`` and stores
for one bot every day of three years to today (``DayStats``, ``DayNps``, ``DaySales``; a few
missing or not valid), the rows of the two ranges asked (``RangeTotals``, ``Audience``,
``AccountBots`` of 25 bots) and 200,000 ``Feedback`` rows of 20,000 chat users, bulk-inserted.
Through Django's test client, as a superuser, it times the page at ``?preset=90`` and at a
365-day ``?from=…&to=…``: the median of ``--runs`` after a warm-up, and the query count, which
must be the same for both. Target: at most 50 ms each. Under each median, where the time
goes: each named part's own time (its named callees taken out) and its SQL, adding up to the
request. ``--queries`` prints each query's median, ``--profile`` one 365-day request's profile.

    DATABASE_URL=postgres://user@127.0.0.1:5432/any python -m benchmarks.insights [--runs 10]

Findings (2026-12-07; 2 shared cores, load average 1.9 to 2.8 with others' tests running, so
medians move by a third between runs). At first: 90 days 43.4 ms, 365 days 69.2 ms, 16
queries for both. What grew with the range was Python, not SQL: the tables' HTML
(``table_html``, 4.5 → 15.7 ms: 5,800 cells each through ``markup``, a quarter to a third of
it escaping; 210 KB of the page's 283 KB), the tables' rows and cells (4.3 → 8.7),
``series`` (3.6 → 7.3) and ``day_read_times`` (2.4 → 5.9 ms and a query, reading the three
day tables again for each day's ``read_at``).

Then, the page's HTML byte for byte the same, run back to back with the first version (load
average 2.07 both times): 90 days 37.5 → 29.8 ms, 365 days 63.3 → 42.9 ms (59.4 → 45.2 in
the run before), 15 queries for both. ``series`` reads each day's ``read_at`` in its three
queries, so ``day_read_times`` and its query are gone; it reads it as text and parses each
distinct moment once, since Django parses a timestamptz in Python at a few microseconds each
(``series`` 5.8 → 6.6 ms, its SQL 2.0 → 3.2). ``table_html`` writes a row as one
``str.format`` with ``html.escape`` on its text cells alone (14.8 → 3.2 ms). Cells are
written column by column and a week's read times looked up by its days rather than by
scanning every day for each week (rows and cells 8.1 → 6.3). Left at 365 days: SQL 9.2 ms
for the 15 queries, the template ~8, ``series`` 6.6, rows and cells 6.3, middleware with the
admin's context ~5, the view's own ~4, the charts' JSON 1.6. Next, if needed: sum the weekly
NPS from ``series``' days instead of reading the NPS days again (a query and ~2 ms).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks._db import bench_database, setup_django

DATABASE = "bo_bench_insights"
YEARS_OF_DAYS = 3 * 365 + 1
FEEDBACK_ROWS = 200_000
CHAT_USERS = 20_000
REST = "middleware, admin, client"
PROBLEM = "rawstats.all: day [3]: sessions: -1 is less than the minimum of 0"
CHANNELS = {"webchat": 9000, "whatsapp": 6000, "messenger": 2000, "instagram": 1500, "telegram": 800}
ACCOUNT_KEYS = ("sitekey", "name", "sessions", "messages", "chatusers")
LANGUAGES = {"it": 11000, "en": 5000, "es": 1500, "fr": 1200, "de": 600, "": 1000}


def day_rows(bot: Any, day: date, read_at: datetime, rng: random.Random, *, valid: bool) -> list[Any]:
    """A day's three rows, with weekday-shaped numbers, or kept as not valid."""
    from insights.models import DayNps, DaySales, DayStats
    from insights.nps import nps_of

    common = {"bot": bot, "date": day, "read_at": read_at}
    if not valid:
        return [model(**common, problem=PROBLEM) for model in (DayStats, DayNps, DaySales)]
    n = 300 + 120 * (day.weekday() < 5) + rng.randrange(80)
    stats = {"sessions": n, "messages": 7 * n, "chatusers": n // 3, "handovers": n // 25}
    counts = {"positive": rng.randrange(60, 120), "neutral": rng.randrange(30), "negative": rng.randrange(40)}
    total = sum(counts.values())
    score = nps_of(positive=counts["positive"], negative=counts["negative"], total=total)
    orders = rng.randrange(5, 60)
    sales = {"orders": orders, "revenue": Decimal(orders * 4250) / 100, "currency": "EUR"}
    rate = Decimal(rng.randrange(100, 900)) / 10000
    return [
        DayStats(**common, **stats),
        DayNps(**common, **counts, total=total, nps=score),
        DaySales(**common, **sales, conversion_rate=rate),
    ]


def store(bot: Any, today: date, ranges: list[tuple[date, date]], rng: random.Random) -> None:
    """Every day of three years to ``today`` (a day in 200 missing, one in 500 not valid), the
    range rows of ``ranges``, and the feedback with its chat users."""
    from chatusers.models import ChatUser, Feedback
    from insights.models import AccountBots, Audience, DayStats, RangeTotals

    read_at = datetime.combine(today, day_time(6), tzinfo=UTC)
    rows: dict[type, list[Any]] = defaultdict(list)
    for back in range(YEARS_OF_DAYS):
        if back % 200 != 17:
            for row in day_rows(bot, today - timedelta(days=back), read_at, rng, valid=back % 500 != 33):
                rows[type(row)].append(row)
    for model, objects in rows.items():
        model.objects.bulk_create(objects, batch_size=2000)
    for start, end in ranges:
        days = DayStats.objects.filter(bot=bot, date__range=(start, end), problem="")
        sums = {name: sum(days.values_list(name, flat=True)) for name in ("sessions", "messages")}
        span = {"bot": bot, "start": start, "end": end, "read_at": read_at}
        RangeTotals.objects.create(**span, **sums)
        Audience.objects.create(
            **span, total=19300, new=2400, active=7100, by_channel=CHANNELS, by_language=LANGUAGES
        )
        account = [(f"other-{n:02d}", f"Bot {n}", 1000 * n, 7000 * n, 30 * n) for n in range(1, 25)]
        account.append((bot.sitekey, bot.name, sums["sessions"], sums["messages"], 0))
        bots = [dict(zip(ACCOUNT_KEYS, entry, strict=True)) for entry in account]
        AccountBots.objects.create(start=start, end=end, bots=bots, read_at=read_at)
    people = (
        ChatUser(bot=bot, remote_id=f"u{n}", name=f"Name {n}", sync_state="synced") for n in range(CHAT_USERS)
    )
    ChatUser.objects.bulk_create(people, batch_size=5000)
    chatusers = list(ChatUser.objects.filter(bot=bot).values_list("pk", flat=True))
    first = datetime.combine(today - timedelta(days=YEARS_OF_DAYS - 1), day_time(), tzinfo=UTC)
    step = YEARS_OF_DAYS * 86400 / FEEDBACK_ROWS
    feedback = (
        Feedback(
            bot=bot,
            remote_id=f"f{n}",
            chatuser_id=rng.choice(chatusers),
            rating=rng.randrange(1, 6),
            comment="" if n % 3 else "Quick and kind, thanks",
            created_at=first + timedelta(seconds=int(n * step) + rng.randrange(300)),
        )
        for n in range(FEEDBACK_ROWS)
    )
    Feedback.objects.bulk_create(feedback, batch_size=5000)


class Clock:
    """A request's milliseconds per section, each section's own (its nested sections taken
    out), the SQL named for the section it ran in: the parts add up to the request."""

    def __init__(self) -> None:
        self.own: dict[str, float] = defaultdict(float)
        self.stack: list[list[Any]] = []  # [name, time in nested sections]
        self.per_query: dict[str, list[float]] = defaultdict(list)  # by statement, every request

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        self.stack.append([name, 0.0])
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = (time.perf_counter() - started) * 1000
            _, nested = self.stack.pop()
            self.own[name] += spent - nested
            if self.stack:
                self.stack[-1][1] += spent

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.section(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def sql(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        with self.section(f"SQL in {self.stack[-1][0]}"):
            try:
                return execute(sql, *args)
            finally:
                self.per_query[sql].append((time.perf_counter() - started) * 1000)


def instrument(clock: Clock) -> None:
    """Name the page's parts: its reads, tables, their HTML and charts' data, the rendering."""
    from django.template import defaultfilters
    from django.template.response import SimpleTemplateResponse

    from insights import admin, admin_page
    from insights.admin_charts import ChartTable

    clock.wrap(admin, "_range_context", "view: feedback, totals, checks")
    clock.wrap(admin_page, "series", "series")
    clock.wrap(admin_page.PageReads, "tables", "tables: rows, cells")
    clock.wrap(admin, "table_html", "table_html")
    clock.wrap(ChartTable, "chart_data", "chart_data")
    clock.wrap(SimpleTemplateResponse, "render", "template")
    clock.wrap(defaultfilters, "_json_script", "json_script")


def measure(client: Any, path: str, runs: int, clock: Clock) -> tuple[float, dict[str, float], int]:
    """The median milliseconds of ``runs`` requests after a warm-up, the median of each
    section's own time, and one request's query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(path)
    if response.status_code != 200 or b"insights-data" not in response.content:
        raise RuntimeError(f"{path} answered {response.status_code} without its charts")
    totals, sections = [], defaultdict(list)
    clock.per_query.clear()
    for _ in range(runs):
        clock.own.clear()
        started = time.perf_counter()
        with connection.execute_wrapper(clock.sql), clock.section(REST):
            client.get(path)
        totals.append((time.perf_counter() - started) * 1000)
        for name, ms in clock.own.items():
            sections[name].append(ms)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    parts = {name: statistics.median(ms + [0.0] * (runs - len(ms))) for name, ms in sections.items()}
    return statistics.median(totals), parts, len(queries)


def profile(client: Any, path: str, top: int = 25) -> None:
    """One request's functions by their own time, then the project's by their cumulative time."""
    profiler = cProfile.Profile()
    profiler.runcall(client.get, path)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"/(insights|backoffice)/", top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it was loaded before")
    parser.add_argument("--queries", action="store_true", help="print each query's median time")
    parser.add_argument("--profile", action="store_true", help="profile one 365-day request")
    args = parser.parse_args()

    parts = urlsplit(os.environ.get("DATABASE_URL", ""))
    url = bench_database(urlunsplit(parts._replace(path=f"/{DATABASE}")), "", fresh=not args.keep)
    setup_django(url, migrate=True)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from backoffice.userbot.models import Bot
    from insights.ranges import utc_today

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
    today = utc_today()
    ranges = [(today - timedelta(days=89), today), (today - timedelta(days=364), today)]
    bot = Bot.objects.filter(sitekey="bench-bot").first()
    if bot is None:
        bot = Bot(name="Bench", sitekey="bench-bot", server_url="ws://127.0.0.1:1/")
        bot.set_apikey("bench-key")
        bot.save()
        started = time.perf_counter()
        store(bot, today, ranges, random.Random(7))
        with connection.cursor() as cursor:
            for table in ("insights_daystats", "insights_daynps", "insights_daysales", "chatusers_feedback"):
                cursor.execute(f"VACUUM ANALYZE {table}")
        seconds = time.perf_counter() - started
        print(
            f"stored {YEARS_OF_DAYS} days of each kind and {FEEDBACK_ROWS} feedback rows in {seconds:.1f} s"
        )
    user = get_user_model().objects.filter(username="bench").first()
    user = user or get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    page = f"/admin/insights/daystats/{bot.pk}/"
    (start, end) = ranges[1]
    cases = [
        ("90 days (?preset=90)", f"{page}?preset=90"),
        ("365 days (?from&to)", f"{page}?from={start}&to={end}"),
    ]
    clock = Clock()
    instrument(clock)
    load_before = os.getloadavg()
    results = [(label, path, *measure(client, path, args.runs, clock)) for label, path in cases]
    load_after = os.getloadavg()
    loads = " then ".join("/".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    print(f"load average {loads}; {os.cpu_count()} cores; median of {args.runs} after a warm-up")
    print(f"{'case, then its parts (medians, own time)':<46} {'median ms':>10} {'queries':>8}")
    for label, _, total, parts, queries in results:
        print(f"{label:<46} {total:>10.1f} {queries:>8}")
        sql = sum(ms for name, ms in parts.items() if name.startswith("SQL"))
        print(f"  {'SQL, all queries':<44} {sql:>10.1f}")
        for name, ms in sorted(parts.items(), key=lambda part: -part[1]):
            print(f"    {name:<42} {ms:>10.1f}")
    if args.queries:
        print("the 365-day page's queries, slowest first:")
        for ms, sql in sorted(((statistics.median(v), k) for k, v in clock.per_query.items()), reverse=True):
            print(f"{ms:>8.2f} ms  {' '.join(sql.split())[:120]}")
    if args.profile:
        profile(client, results[1][1])
    (_, _, ms_90, _, q_90), (_, _, ms_365, _, q_365) = results
    queries = str(q_90) if q_90 == q_365 else f"{q_90}!={q_365}"
    print(f"insights_90d_ms={ms_90:.1f} insights_365d_ms={ms_365:.1f} queries={queries}")


if __name__ == "__main__":
    main()
