"""The chat user changelist at a million chat users, on PostgreSQL.

Loads 1M chat users (with tags and variables) into a database of its own, named after the
one in ``DATABASE_URL`` with ``_admin_bench`` appended and made afresh each run, using
COPY with the secondary indexes dropped and rebuilt afterwards. Then, through Django's
test client logged in as a superuser, it times the changelist (median of ``--runs``) and
counts its queries: the first page, a common and a rare search, filters, and pages of 100
and 500. Target: every median of 100 rows at most 50 ms, the same query count at 100 and 500.

Beside each median it prints the time the same requests spent in SQL (the database and the
wire, not Django's objects), which is the floor of that case; then an empty list (the
operator's saved views, none), the floor of any admin list on the machine it runs on; and
the count of a segment of one channel, which the (bot, UPPER(channel)) index serves.
``--queries`` prints each query's median time too.

    DATABASE_URL=postgres://user@127.0.0.1:5432/name python -m benchmarks.admin [--users 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from benchmarks._db import bench_database, setup_django

TABLES = ("chatusers_chatuser", "chatusers_chatusersync", "chatusers_chatusertag", "chatusers_variable")
# The sync records' key is their chat user's id: no sequence of their own.
SEQUENCED = ("chatusers_chatuser", "chatusers_chatusertag", "chatusers_variable")
FIRST_NAMES = (
    "Ada Alan Anna Bruno Carla Chiara Dario Elena Enzo Fabio Franca Gianni Giulia Ivo Laura Luca Marco "
    "Maria Marta Nadia Nino Paola Piero Rita Rosa Sara Sergio Silvia Teresa Ugo Vera Walter Zoe"
).split()
SURNAMES = (
    "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti DeLuca "
    "Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani Rinaldi Caruso"
).split()
CHANNELS = ("webchat",) * 5 + ("whatsapp",) * 3 + ("messenger", "instagram", "telegram", "api")
LANGUAGES = ("it",) * 6 + ("en",) * 3 + ("es", "fr", "de", "pt", "")
TAG_COUNT = 40


def _secondary_structures(cursor: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Unique and foreign-key constraints, and the other non-primary indexes, of the tables."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        "WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('u', 'f') ORDER BY contype DESC",
        [list(TABLES)],
    )
    constraints = [(table, name, definition) for table, name, definition, _ in cursor.fetchall()]
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('u', 'p'))",
        [list(TABLES)],
    )
    return constraints, cursor.fetchall()


def _index_statistics(cursor: Any) -> list[tuple[str, int, int]]:
    """The statistics targets set on the tables' index columns (index, column, target)."""
    cursor.execute(
        "SELECT a.attrelid::regclass::text, a.attnum, a.attstattarget FROM pg_attribute a "
        "JOIN pg_index i ON i.indexrelid = a.attrelid "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND a.attstattarget > 0",
        [list(TABLES)],
    )
    return cursor.fetchall()


def load(users: int, bot_id: int, seed: int = 7) -> float:
    """COPY ``users`` chat users with their sync records, ~2 tags and 2 variables each;
    returns the seconds it took."""
    from django.db import connection

    rng = random.Random(seed)
    started = time.perf_counter()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        constraints, indexes = _secondary_structures(cursor)
        targets = _index_statistics(cursor)
        for table, name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute(
            "INSERT INTO chatusers_tag (bot_id, remote_id, name, color) "
            "SELECT %s, 't' || n, 'tag-' || n, '#1e88e5' FROM generate_series(1, %s) n RETURNING id",
            [bot_id, TAG_COUNT],
        )
        tag_ids = [row[0] for row in cursor.fetchall()]
        with connection.connection.cursor() as copy_cursor:  # psycopg 3's own cursor, for COPY
            columns = (
                "id, bot_id, client_ref, name, surname, email, phone, channel, language, created_at,"
                " last_seen_at, updated_at"
            )
            jitter = bytearray(users + 1)  # each chat user's seconds past its slot, for its record
            with copy_cursor.copy(f"COPY chatusers_chatuser ({columns}) FROM STDIN") as copy:
                for i in range(1, users + 1):
                    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
                    jitter[i] = rng.randrange(30)
                    created = base + timedelta(seconds=i * 30 + jitter[i])
                    seen = created + timedelta(days=rng.randrange(60)) if i % 2 else None
                    copy.write_row(
                        (
                            i, bot_id, f"{i:032x}", first, last, f"{first}.{last}{i}@example.com".lower(),
                            f"+39{3000000000 + i}", rng.choice(CHANNELS), rng.choice(LANGUAGES), created,
                            seen, created,
                        )
                    )  # fmt: skip
            record_columns = "chatuser_id, bot_id, created_at, remote_id, sync_state, synced_at, sync_error"
            with copy_cursor.copy(f"COPY chatusers_chatusersync ({record_columns}) FROM STDIN") as copy:
                for i in range(1, users + 1):
                    created = base + timedelta(seconds=i * 30 + jitter[i])
                    state = "error" if i % 1000 == 0 else ("pending" if i % 100 == 0 else "synced")
                    error = "timeout" if state == "error" else ""
                    copy.write_row((i, bot_id, created, f"u{i}", state, created, error))
            with copy_cursor.copy("COPY chatusers_chatusertag (chatuser_id, tag_id) FROM STDIN") as copy:
                for i in range(1, users + 1):
                    for tag_id in rng.sample(tag_ids, rng.randrange(4)):
                        copy.write_row((i, tag_id))
            with copy_cursor.copy("COPY chatusers_variable (chatuser_id, name, value) FROM STDIN") as copy:
                for i in range(1, users + 1):
                    copy.write_row((i, "age", str(18 + i % 60)))
                    copy.write_row((i, "plan", rng.choice(("free", "pro", "team"))))
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for index, column, target in targets:  # the migrations' targets, which a rebuild loses
            cursor.execute(f"ALTER INDEX {index} ALTER COLUMN {column} SET STATISTICS {target}")
        for table, name, definition in reversed(constraints):
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for table in SEQUENCED:
            # Table names are this module's constants.
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {table}))",  # noqa: S608
                [table],
            )
    # A table in steady state has been vacuumed (the visibility map lets counts use
    # index-only scans) and analysed. Django runs in autocommit here, as VACUUM needs.
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


class Measured(NamedTuple):
    median_ms: float
    sql_ms: float  # the median of the requests' time in SQL
    queries: int
    query_ms: list[tuple[float, str]]  # each query's median time, in the order they ran


def measure(get: Callable[[], Any], runs: int) -> Measured:
    """The median milliseconds of ``runs`` requests after a warm-up, their time in SQL, and
    one request's query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = get()
    if response.status_code != 200:
        raise RuntimeError(f"the page answered {response.status_code}")
    timings, in_sql = [], []
    per_query: dict[str, list[float]] = {}  # by statement, in the order they first ran
    for _ in range(runs):
        spent: list[float] = []

        def timed(execute: Callable[..., Any], sql: str, *args: Any, spent: list[float] = spent) -> Any:
            started = time.perf_counter()
            try:
                return execute(sql, *args)
            finally:
                spent.append((time.perf_counter() - started) * 1000)
                per_query.setdefault(sql, []).append(spent[-1])

        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            get()
        timings.append((time.perf_counter() - started) * 1000)
        in_sql.append(sum(spent))
    with CaptureQueriesContext(connection) as queries:
        get()
    query_ms = [(statistics.median(ms), sql) for sql, ms in per_query.items()]
    return Measured(statistics.median(timings), statistics.median(in_sql), len(queries), query_ms)


def segment_count_ms(bot: Any, runs: int) -> float:
    """The median milliseconds of counting a segment of one channel, as its page does."""
    from chatusers.selectors import segment_queryset

    segment = segment_queryset(
        bot=bot, match="all", filters=[{"field": "channel", "op": "eq", "value": "WhatsApp"}]
    )
    segment.count()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        segment.count()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded bench database if present")
    parser.add_argument("--queries", action="store_true", help="print each query's median time")
    args = parser.parse_args()

    setup_django(bench_database(os.environ.get("DATABASE_URL", ""), "_admin_bench", fresh=not args.keep))
    from django.conf import settings
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from backoffice.runtime import freeze_started_process
    from backoffice.userbot.models import Bot
    from chatusers.models import ChatUser, Tag

    # The test client's host; setup_test_environment would add it too, but also instrument
    # every template render, which is not what production pays.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)
    if not ChatUser.objects.exists():
        bot = Bot(name="Bench", sitekey="bench-bot", server_url="ws://127.0.0.1:1/")
        bot.set_apikey("bench-key")
        bot.save()
        seconds = load(args.users, bot.pk)
        print(f"loaded {args.users} chat users with tags and variables in {seconds:.1f} s")
    bot = Bot.objects.get(sitekey="bench-bot")
    user = get_user_model().objects.filter(username="bench").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    # As the serving processes do once started (backoffice/wsgi.py): what loading made is
    # out of the collector's sight, the load's million rows are gone.
    freeze_started_process()
    url = "/admin/chatusers/chatuser/"
    tag = Tag.objects.order_by("pk").first()
    model_admin = admin.site._registry[ChatUser]
    cases = [
        ("first page", f"{url}", 100),
        ("search, common surname", f"{url}?q=rossi", 100),
        ("search, one email", f"{url}?q=maria.rossi4242", 100),
        ("filter channel", f"{url}?channel__exact=telegram", 100),
        ("filter tag", f"{url}?tag={tag.pk}", 100),
        ("filter sync state", f"{url}?sync__sync_state__exact=error", 100),
        ("filter language + search", f"{url}?language__exact=fr&q=marco", 100),
        ("first page, 100 rows", f"{url}", 100),
        ("first page, 500 rows", f"{url}", 500),
    ]
    results: list[tuple[str, int, Measured]] = []
    for label, path, per_page in cases:
        model_admin.list_per_page = per_page
        results.append((label, per_page, measure(lambda path=path: client.get(path), args.runs)))
    empty = measure(lambda: client.get("/admin/admin_site/savedview/"), args.runs)
    segment_ms = segment_count_ms(bot, args.runs)
    print(f"{'case':<28} {'rows':>5} {'median ms':>10} {'in SQL ms':>10} {'queries':>8}")
    for label, per_page, measured in [*results, ("empty list (a floor)", 0, empty)]:
        print(_line(label, per_page, measured))
        if args.queries:
            for ms, sql in measured.query_ms:
                print(f"{'':<28} {ms:>8.1f} ms  {' '.join(sql.split())[:110]}")
    print(f"{'segment count, one channel':<28} {'':>5} {segment_ms:>10.1f}")
    slowest = max((m for _, per_page, m in results if per_page == 100), key=lambda m: m.median_ms)
    queries_100 = next(m.queries for label, _, m in results if label == "first page, 100 rows")
    queries_500 = next(m.queries for label, _, m in results if label == "first page, 500 rows")
    print(
        f"changelist_ms_p50={slowest.median_ms:.1f} queries_100={queries_100} queries_500={queries_500} "
        f"slowest_in_sql_ms={slowest.sql_ms:.1f} empty_list_ms={empty.median_ms:.1f} "
        f"segment_channel_count_ms={segment_ms:.1f}"
    )


def _line(label: str, rows: int, measured: Measured) -> str:
    return f"{label:<28} {rows:>5} {measured.median_ms:>10.1f} {measured.sql_ms:>10.1f} {measured.queries:>8}"


if __name__ == "__main__":
    main()
