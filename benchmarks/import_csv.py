"""The chat user CSV import at a million rows, on PostgreSQL, against two yardsticks.

Generates 1M realistic rows (names, emails, phones, channels, languages, tags and two
variables), then in one run times, each into an empty table of a database of its own
(named after the one in ``DATABASE_URL`` with ``_bench`` appended, made afresh):

- our import (``import_job_run``: streamed, validated, upserted, outbox and undo rows
  written), in a child process that runs nothing else, whose high-water mark of resident
  memory is the peak memory;
- raw ``COPY`` of the same rows' chat user columns into ``chatusers_chatuser``, then of
  their sync records into ``chatusers_chatusersync`` (pending, no error: the least the
  schema asks of an imported chat user), in one transaction; the ids are written into the
  file beforehand and the other bookkeeping columns given server-side defaults for the
  measurement;
- django-import-export's bulk import of the first 10k rows (``pip install -e .[bench]``), tuned
  as its documentation's "Performance tuning" says for a create-or-update import: bulk mode,
  no diff, and ``CachedInstanceLoader``.

Targets: at least 50% of raw COPY's rate, at least 20 times django-import-export's, peak
memory at most 150 MB. The last line holds the figures as ``key=value`` words.

``--breakdown`` runs our import alone, its chunks written one after another on one
connection, and prints what each part cost per chunk: seconds, and the database server's
CPU seconds for the part when the server runs on this machine.

    DATABASE_URL=postgres://user@127.0.0.1:5432/name python -m benchmarks.import_csv [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks._db import bench_database, setup_django

FIRST_NAMES = (
    "Ada Alan Anna Bruno Carla Chiara Dario Elena Enzo Fabio Giulia Ivo Laura Luca Marco Maria Zoe".split()
)
SURNAMES = "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti".split()
CHANNELS = ("webchat",) * 5 + ("whatsapp",) * 3 + ("messenger", "instagram", "telegram", "api")
LANGUAGES = ("it",) * 6 + ("en",) * 3 + ("es", "fr", "de", "")
TAGS = [f"segment-{n}" for n in range(20)]
CITIES = "Roma Milano Napoli Torino Palermo Genova Bologna Firenze Bari Catania".split()
HEADER = ["name", "surname", "email", "phone", "channel", "language", "tags", "var:city", "var:plan"]
FIELD_COLUMNS = ["name", "surname", "email", "phone", "channel", "language"]
# Raw COPY writes the chat users' ids itself: their sync records need them.
COPY_COLUMNS = ["id", *FIELD_COLUMNS]
IMPORT_EXPORT_ROWS = 10_000


def generate(path: Path, fields_path: Path, rows: int) -> None:
    """The import's file, and the same rows' chat user columns alone for raw COPY, with
    ids from 1 (the chat user table is empty)."""
    rng = random.Random(5)
    with path.open("w", newline="") as full, fields_path.open("w", newline="") as fields:
        full_writer, fields_writer = csv.writer(full), csv.writer(fields)
        full_writer.writerow(HEADER)
        fields_writer.writerow(COPY_COLUMNS)
        for n in range(rows):
            name, surname = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
            email = f"{name.lower()}.{surname.lower()}.{n}@example.com"
            phone = f"+39{3_000_000_000 + n}" if n % 3 else ""
            cells = [name, surname, email, phone, rng.choice(CHANNELS), rng.choice(LANGUAGES)]
            tags = "|".join(rng.sample(TAGS, rng.randint(0, 2)))
            full_writer.writerow([*cells, tags, rng.choice(CITIES), rng.choice(("free", "pro", ""))])
            fields_writer.writerow([n + 1, *cells])


def _bot_and_user() -> tuple[Any, Any]:
    from django.contrib.auth import get_user_model

    from backoffice.userbot.models import Bot

    bot = Bot.objects.filter(sitekey="bench-bot").first()
    if bot is None:
        bot = Bot(name="Bench", sitekey="bench-bot", server_url="ws://127.0.0.1:1/")
        bot.set_apikey("bench-key")
        bot.save()
    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_user(
        "bench", password="bench"
    )
    return bot, user


# Timed parts of a chunk, for --breakdown: (label, module, attribute: a function of the
# module as the callers there see it, or a class's method).
PARTS = (
    ("duplicate keys in the file", "chatusers.imports.upsert", "Upserter._without_duplicates"),
    ("existing chat users by key", "chatusers.imports.upsert", "existing_chatusers"),
    ("their tags and variables", "chatusers.imports.upsert", "tags_and_variables"),
    ("statistics (ANALYZE)", "chatusers.imports.upsert", "Upserter._keep_statistics_fresh"),
    ("decide (the rest)", "chatusers.imports.upsert", "Upserter.plan"),
    ("new tags", "chatusers.imports.writer", "Writer._create_tags"),
    ("insert chat users + undo rows", "chatusers.imports.postgres_writer", "PostgresWriter.insert_chatusers"),
    ("their tags and variables", "chatusers.imports.postgres_writer", "PostgresWriter.finish_created"),
    ("update changed chat users", "chatusers.imports.postgres_writer", "PostgresWriter.update_chatusers"),
    ("their tags (removed)", "chatusers.imports.writer", "Writer.remove_tags"),
    ("their tags (added)", "chatusers.imports.postgres_writer", "PostgresWriter.add_tags"),
    ("their variables", "chatusers.imports.postgres_writer", "PostgresWriter.set_variables"),
    ("their updated_at", "chatusers.imports.postgres_writer", "PostgresWriter.touch"),
    ("their outbox entries and sync state", "chatusers.imports.writer", "mark_changed_ids"),
    ("their undo rows", "chatusers.imports.postgres_writer", "PostgresWriter.record"),
    ("job counters, rejected rows", "chatusers.imports.progress", "Books.commit"),
    ("commit (deferred foreign-key checks)", "django.db.backends.base.base", "BaseDatabaseWrapper.commit"),
)


class _Breakdown:
    """Wraps the parts' methods to add up their seconds (and the database backend's CPU
    seconds, read from /proc when the server runs here). Nested parts are subtracted from
    the part that calls them, so each second is counted once."""

    def __init__(self) -> None:
        import importlib

        self.seconds: dict[str, float] = {}
        self.db_seconds: dict[str, float] = {}
        self.stack: list[list[float]] = []
        self.backend = ""
        for label, module, attribute in PARTS:
            owner: Any = importlib.import_module(module)
            *classes, name = attribute.split(".")
            for cls in classes:
                owner = getattr(owner, cls)
            setattr(owner, name, self._timed(f"{label} ({name})", getattr(owner, name)))

    def attach(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            stat = Path(f"/proc/{cursor.fetchone()[0]}/schedstat")
        self.backend = str(stat) if stat.exists() else ""

    def _db_cpu(self) -> float:
        return int(Path(self.backend).read_text().split()[0]) / 1e9 if self.backend else 0.0

    def _timed(self, label: str, method: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([0.0, 0.0])
            started, db_started = time.perf_counter(), self._db_cpu()
            try:
                return method(*args, **kwargs)
            finally:
                seconds, db = time.perf_counter() - started, self._db_cpu() - db_started
                inner, inner_db = self.stack.pop()
                self.seconds[label] = self.seconds.get(label, 0.0) + seconds - inner
                self.db_seconds[label] = self.db_seconds.get(label, 0.0) + db - inner_db
                if self.stack:
                    self.stack[-1][0] += seconds
                    self.stack[-1][1] += db

        return timed

    def report(self, chunks: int, total: float, reader_cpu: float) -> list[str]:
        lines = [f"{'part':58} {'s':>7} {'ms/chunk':>9} {'db cpu s':>9}"]
        lines.append(f"{'read and validate rows (reader thread, CPU)':58} {reader_cpu:7.1f} {'':>9} {'':>9}")
        for label, seconds in sorted(self.seconds.items(), key=lambda item: -item[1]):
            db = f"{self.db_seconds[label]:9.1f}" if self.backend else f"{'?':>9}"
            lines.append(f"{label:58} {seconds:7.1f} {1000 * seconds / max(chunks, 1):9.1f} {db}")
        rest = total - sum(self.seconds.values())
        lines.append(f"{'everything else (waits for the reader, progress, ...)':58} {rest:7.1f}")
        return lines


def _peak_rss_kb() -> int:
    """This process's peak resident memory. On Linux its own high-water mark (``VmHWM``):
    ``ru_maxrss`` survives ``fork`` and ``exec``, so a child started by the parent after it
    generated the file and ran django-import-export would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_our_import(path: Path, url: str, breakdown: bool = False) -> None:
    """The child process: our import alone; prints its figures as JSON."""
    setup_django(url)
    from django.core.files import File

    from backoffice.runtime import tune_gc_for_bulk_work
    from backoffice.sync import tasks
    from chatusers.import_models import ImportJob
    from chatusers.imports import chunks, run
    from chatusers.imports.services import import_job_configure, import_job_create

    tune_gc_for_bulk_work()  # as a Celery worker does
    # The relay is woken as in production, up to the queue: a push queued here would wait
    # in this machine's broker for a worker of another database.
    wakes: list[int] = []
    tasks.push.delay = wakes.append  # type: ignore[method-assign]
    parts = None
    if breakdown:
        run.WRITERS = 1  # one connection, so that each part's time is its own
        parts = _Breakdown()
        parts.attach()
        produce = chunks.ValidatedChunks._produce
        reader_cpu: list[float] = []

        def produce_timed(self: Any) -> None:
            started = time.thread_time()
            try:
                produce(self)
            finally:
                reader_cpu.append(time.thread_time() - started)

        chunks.ValidatedChunks._produce = produce_timed  # type: ignore[method-assign]
    bot, user = _bot_and_user()
    started = time.perf_counter()
    with path.open("rb") as handle:
        job = import_job_create(bot=bot, actor=user, upload=File(handle, name=path.name))  # type: ignore[arg-type]
    import_job_configure(
        job=job,
        mapping=job.mapping,
        mode="upsert",
        match_key="email",
        overwrite="overwrite",
        extra_tags=["bench"],
        dry_run=False,
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    run.import_job_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    if parts is not None:
        count = -(-job.rows_done // chunks.CHUNK_ROWS)
        print(f"breakdown of {job.rows_done} rows in {count} chunks, {seconds:.1f} s:")
        print("\n".join(parts.report(count, seconds, sum(reader_cpu))))
    peak_kb = _peak_rss_kb()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": job.rows_done,
                "created": job.created,
                "rejected": job.rejected,
                "status": job.status,
                "peak_rss_mb": peak_kb / 1024,
                "relay_wakes": len(wakes),
            }
        )
    )


def _truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE chatusers_chatuser, chatusers_chatusersync, chatusers_chatusertag, chatusers_variable,"
            " sync_outboxentry, chatusers_importchange CASCADE"
        )


def raw_copy(fields_path: Path, url: str, bot_id: int, rows: int) -> float:
    """Seconds for COPY of the chat user columns into the chat user table, then of their
    sync records (pending, no error) into theirs, in one transaction."""
    defaults = {
        "chatusers_chatuser": {
            "bot_id": str(bot_id),
            "client_ref": "md5(random()::text)",
            "created_at": "now()",
            "updated_at": "now()",
        },
        # now() is the transaction's start: the record's copy of created_at is the chat user's.
        "chatusers_chatusersync": {
            "bot_id": str(bot_id),
            "created_at": "now()",
            "sync_state": "'pending'",
            "sync_error": "''",
        },
    }
    records = "".join(f"{n}\n" for n in range(1, rows + 1)).encode()
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM chatusers_chatuser)").fetchone()[0]:  # type: ignore[index]
            raise SystemExit("raw COPY needs an empty chat user table: its ids are the file's")
        # Past the file's ids, for the chat users the other parts create after this one.
        conn.execute("SELECT setval(pg_get_serial_sequence('chatusers_chatuser', 'id'), %s)", [rows])
        for table, columns in defaults.items():
            for column, default in columns.items():
                conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}")
        try:
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor, fields_path.open("rb") as source:
                with cursor.copy(
                    f"COPY chatusers_chatuser ({', '.join(COPY_COLUMNS)}) FROM STDIN"
                    " (FORMAT csv, HEADER true, FORCE_NOT_NULL (name, surname, language))"
                ) as copy:
                    while block := source.read(1024 * 1024):
                        copy.write(block)
                with cursor.copy("COPY chatusers_chatusersync (chatuser_id) FROM STDIN") as copy:
                    copy.write(records)
            seconds = time.perf_counter() - started
        finally:
            for table, columns in defaults.items():
                for column in columns:
                    conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
    return seconds


def import_export(path: Path, rows: int) -> float:
    """Rows per second of django-import-export's bulk import of the first ``rows`` rows."""
    import tablib
    from import_export import fields, resources
    from import_export.instance_loaders import CachedInstanceLoader

    from backoffice.runtime import tune_gc_for_bulk_work
    from chatusers.models import ChatUser

    tune_gc_for_bulk_work()  # as our import has it: both would run in the same worker
    bot, _ = _bot_and_user()

    class ChatUserResource(resources.ModelResource):
        email = fields.Field(attribute="email", column_name="email")

        class Meta:
            model = ChatUser
            fields = ("name", "surname", "email", "phone", "channel", "language")
            import_id_fields = ("email",)
            # Its documented tuning for a create-or-update import: bulk writes, no diff, and
            # the existing rows loaded in one query instead of one query per row.
            use_bulk = True
            batch_size = 1000
            skip_diff = True
            instance_loader_class = CachedInstanceLoader

        def before_save_instance(self, instance: Any, row: Any, **kwargs: Any) -> None:
            instance.bot_id = bot.pk
            instance.phone = instance.phone or None

    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        data = tablib.Dataset(headers=header)
        for index, row in enumerate(reader):
            if index >= rows:
                break
            data.append(row)
    started = time.perf_counter()
    result = ChatUserResource().import_data(data, dry_run=False, raise_errors=True)
    seconds = time.perf_counter() - started
    if result.has_errors():
        raise SystemExit("django-import-export reported errors")
    return rows / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--breakdown", action="store_true", help="our import alone, part by part")
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_our_import(Path(args.child), os.environ["DATABASE_URL"], args.breakdown)
        return

    bench_url = bench_database(os.environ.get("DATABASE_URL", ""), "_bench")
    setup_django(bench_url, migrate=True)
    bot, _ = _bot_and_user()

    with tempfile.TemporaryDirectory() as folder:
        path, fields_path = Path(folder) / "contacts.csv", Path(folder) / "contacts-fields.csv"
        started = time.perf_counter()
        generate(path, fields_path, args.rows)
        print(
            f"generated {args.rows} rows ({path.stat().st_size / 1e6:.0f} MB)"
            f" in {time.perf_counter() - started:.1f} s"
        )

        if args.breakdown:
            subprocess.run(
                [sys.executable, "-m", "benchmarks.import_csv", "--breakdown", "--child", str(path)],
                env={**os.environ, "DATABASE_URL": bench_url},
                check=True,
            )
            return
        copy_seconds = raw_copy(fields_path, bench_url, bot.pk, args.rows)
        copy_rate = args.rows / copy_seconds
        print(f"raw COPY: {copy_rate:,.0f} rows/s ({copy_seconds:.1f} s)")
        _truncate(bench_url)

        ie_rate = import_export(path, min(IMPORT_EXPORT_ROWS, args.rows))
        print(f"django-import-export (bulk, {IMPORT_EXPORT_ROWS} rows): {ie_rate:,.0f} rows/s")
        _truncate(bench_url)

        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.import_csv", "--child", str(path)],
            env={**os.environ, "DATABASE_URL": bench_url},
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            sys.stderr.write(child.stderr)
            raise SystemExit("our import failed")
        ours = json.loads(child.stdout.strip().splitlines()[-1])
        our_rate = ours["rows"] / ours["seconds"]
        print(
            f"our import: {our_rate:,.0f} rows/s ({ours['seconds']:.1f} s, {ours['created']} created, "
            f"{ours['rejected']} rejected, {ours['status']}), peak memory {ours['peak_rss_mb']:.0f} MB,"
            f" relay woken {ours['relay_wakes']} times"
        )
    print(
        f"our_rows_per_s={our_rate:.0f} copy_rows_per_s={copy_rate:.0f} "
        f"import_export_rows_per_s={ie_rate:.0f} "
        f"vs_copy={our_rate / copy_rate:.2f} vs_import_export={our_rate / ie_rate:.1f} "
        f"peak_rss_mb={ours['peak_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
