"""The chat user changelist at a million chat users, on PostgreSQL.

Loads 1M chat users (with tags and variables) into a database of its own, named after the
one in ``DATABASE_URL`` with ``_admin_bench`` appended and made afresh each run, using
COPY with the secondary indexes dropped and rebuilt afterwards. Then, through Django's
test client logged in as a superuser, it times the changelist (median of ``--runs``) and
counts its queries: the first page, a common and a rare search, filters, and pages of 100
and 500. Target: every median under 100 ms, the same query count at 100 and 500.

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
from typing import Any

from benchmarks._db import bench_database, setup_django

TABLES = ("chatusers_chatuser", "chatusers_chatusertag", "chatusers_variable")
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


def load(users: int, bot_id: int, seed: int = 7) -> float:
    """COPY ``users`` chat users, ~2 tags and 2 variables each; returns the seconds it took."""
    from django.db import connection

    rng = random.Random(seed)
    started = time.perf_counter()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        constraints, indexes = _secondary_structures(cursor)
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
                "id, bot_id, remote_id, client_ref, sync_state, synced_at, sync_error, name, surname, "
                "email, phone, channel, language, created_at, last_seen_at, updated_at"
            )
            with copy_cursor.copy(f"COPY chatusers_chatuser ({columns}) FROM STDIN") as copy:
                for i in range(1, users + 1):
                    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
                    created = base + timedelta(seconds=i * 30 + rng.randrange(30))
                    state = "error" if i % 1000 == 0 else ("pending" if i % 100 == 0 else "synced")
                    seen = created + timedelta(days=rng.randrange(60)) if i % 2 else None
                    copy.write_row(
                        (
                            i, bot_id, f"u{i}", f"{i:032x}", state, created,
                            "timeout" if state == "error" else "", first, last,
                            f"{first}.{last}{i}@example.com".lower(), f"+39{3000000000 + i}",
                            rng.choice(CHANNELS), rng.choice(LANGUAGES), created, seen, created,
                        )
                    )  # fmt: skip
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
        for table, name, definition in reversed(constraints):
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for table in TABLES:
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


def measure(get: Callable[[], Any], runs: int) -> tuple[float, int]:
    """The median milliseconds of ``runs`` requests after a warm-up, and one request's query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = get()
    if response.status_code != 200:
        raise RuntimeError(f"the changelist answered {response.status_code}")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        get()
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        get()
    return statistics.median(timings), len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded bench database if present")
    args = parser.parse_args()

    setup_django(bench_database(os.environ.get("DATABASE_URL", ""), "_admin_bench", fresh=not args.keep))
    from django.conf import settings
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

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
    user = get_user_model().objects.filter(username="bench").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    url = "/admin/chatusers/chatuser/"
    tag = Tag.objects.order_by("pk").first()
    model_admin = admin.site._registry[ChatUser]
    cases = [
        ("first page", f"{url}", 100),
        ("search, common surname", f"{url}?q=rossi", 100),
        ("search, one email", f"{url}?q=maria.rossi4242", 100),
        ("filter channel", f"{url}?channel__exact=telegram", 100),
        ("filter tag", f"{url}?tag={tag.pk}", 100),
        ("filter sync state", f"{url}?sync_state__exact=error", 100),
        ("filter language + search", f"{url}?language__exact=fr&q=marco", 100),
        ("first page, 100 rows", f"{url}", 100),
        ("first page, 500 rows", f"{url}", 500),
    ]
    results = []
    for label, path, per_page in cases:
        model_admin.list_per_page = per_page
        median, queries = measure(lambda path=path: client.get(path), args.runs)
        results.append((label, per_page, median, queries))
    print(f"{'case':<28} {'rows':>5} {'median ms':>10} {'queries':>8}")
    for label, per_page, median, queries in results:
        print(f"{label:<28} {per_page:>5} {median:>10.1f} {queries:>8}")
    slowest = max(median for label, per_page, median, _ in results if per_page == 100)
    queries_100 = next(q for label, _, _, q in results if label == "first page, 100 rows")
    queries_500 = next(q for label, _, _, q in results if label == "first page, 500 rows")
    print(f"changelist_ms_p50={slowest:.1f} queries_100={queries_100} queries_500={queries_500}")


if __name__ == "__main__":
    main()
