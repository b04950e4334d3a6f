"""Per-record sync state on the chat user row, or in a narrow table of its own: which is faster.

Layouts, in one database (the one in ``DATABASE_URL`` with ``_state`` appended, made afresh),
timed alternately on the same chat users, each with its own copy of the outbox:

- ``state_on_row``: today's migrated ``chatusers_chatuser``, the state columns on the row.
- ``narrow_table``: schema ``narrow``: ``chatuser``, the same table without ``sync_state``,
  ``synced_at``, ``remote_updated_at``, ``sync_error``, ``synced_snapshot`` and the two indexes
  on ``sync_state``; and ``chatuser_sync(chatuser_id pk, bot_id, created_at, sync_state,
  synced_at, remote_updated_at, sync_error, synced_snapshot)``, its primary key and one
  partial index ``(bot_id, sync_state, created_at, chatuser_id) WHERE sync_state <> 'synced'``.
- ``hot_row`` (``--hot-row FILLFACTOR``): the state on the row, both state indexes dropped, the
  table written at that fillfactor: the only way the row's state changes can be HOT.

A cycle pushes 100k chat users of one bot of ``--users`` (a random sample, the same for every
layout in a round): mark them pending (``outbox.mark_changed_ids``' two statements, 5,000 ids
a transaction), the admin's changelist by sync state (the capped count and the page of 100),
claim (the relay's claim statement and its read of the objects) and record (``complete_held``
and ``record_synced``), 5,000 a batch as the relay goes. The statements are the engine's own,
on each layout's tables; ``first_push`` is the same with Userbot answering new remote ids.

    DATABASE_URL=postgres://user@127.0.0.1:5432/name python -m benchmarks.sync_state \\
        [--users 1000000] [--push 100000] [--rounds 2] [--hot-row 80] [--keep]

Findings (PostgreSQL 15, 1M chat users, 100k pushed, one connection, a CHECKPOINT before each
cycle; 2 cores shared with other sessions' test suites, load average 2 to 6, so phases vary
by up to a quarter within a run and a run's totals by 1.4x, while the ratios hold):

Two of the 13 indexes hold a state column, ``chatuser_bot_sync_state`` and
``chatuser_sync_state_created``: every change of ``sync_state`` is a non-HOT update, a new
470-byte row version and an entry in all 14 indexes (the trigram GIN among them). None of
the 100k updates of the mark, nor of the record, was HOT, and no fillfactor changes that.
Run on the committed schema (ms: median [min-max] of 2 rounds; WAL of the phase):

    phase    state_on_row                   narrow_table                 narrow/row
    mark     20372 [18177-22568] 1247 MB    5653 [4370-6936]   408 MB     0.28
    admin       12 [12-13]                    37 [34-40]                  3.0
    claim     6707 [6625-6790]   234 MB     7844 [7405-8284]    68 MB     1.17
    record   32797 [32335-33260] 1062 MB    8145 [7737-8553]    54 MB     0.25
    cycle    59889 [58238-61540] 2543 MB   21679 [21246-22111] 530 MB     0.36
    rows/s    1670 for the cycle            4613
    vacuum   14157 [9174-19140]  1031 MB    6384 [4660-8109]   110 MB     0.45
    first push: record 37911 and 35570 (0.94), of which 24950 the new remote ids on the
    chat user row; cycle 71354 and 55562 (0.78)

The cycle's ratio over four runs: 0.30 and 0.32 (busier machine, the narrow table's index on
``sync_state`` alone), 0.26 (a working tree with a 14th, uncommitted index), 0.36 (the table).
The claim statement is the same on both (the outbox): its difference is the read of the
claimed objects and the noise. ``hot_row`` at fillfactor 80: 98% of the mark's and 99% of the
record's updates HOT, cycle 0.35 of today, but a filter by state then has no index
(``pending`` 0.6 s, ``error`` 0.4 s a list at 1M, against 3 ms) and the heap is 601 MB, not 470.

Recommendation: move the state (``sync_state``, ``synced_snapshot``, ``remote_updated_at``,
``synced_at``, ``sync_error``) to a narrow table: the relay's writes to chat users cost a
quarter of today's in time and a fifth in WAL, and their cleanup half, while the admin's list
by state stays a range of one index. Keeping it on the row is as fast only once nothing
indexes it, which costs that list. What the move needs beside the table:

- the bot and the creation time copied into it (neither changes) and the partial index on
  them: with an index on ``sync_state`` alone (runs 1 and 2), the ``pending`` page took 0.7 to
  1.3 s whenever the statistics predated the push (the planner sorts every pending row), 16 ms
  after an ANALYZE; with it, 5 to 17 ms for ``pending`` and ``error``, 3 ms on the row;
- the remote id too, for the issue's push of new chat users: a first push rewrites the wide
  row for its remote id (``chatuser_remote_id_unique``), 25 of its 36 s here, which the state
  table does not remove. Moved with the state (and its unique index), only narrow rows change.
Its costs: creating a chat user writes two rows (a second COPY for the pull and the import),
and the changelist, the change page and the relay's read join the two tables (1 ms a page).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from benchmarks._db import bench_database, setup_django
from benchmarks.admin import CHANNELS, FIRST_NAMES, LANGUAGES, SURNAMES, _secondary_structures
from benchmarks.sync import FLOOR_SNAPSHOT

LABEL = "chatusers.chatuser"
BATCH = 5000  # SYNC_PUSH_BATCH's default, and the import's chunk
STATE_COLUMNS = ("sync_state", "synced_at", "remote_updated_at", "sync_error", "synced_snapshot")
ADMIN_STATES = (None, "pending", "error", "synced")  # None: the unfiltered first page
ADMIN_RUNS = 5


@dataclass(frozen=True)
class Layout:
    """Where a layout keeps chat users, their sync state and their outbox entries."""

    name: str
    chatuser: str
    state: str  # the table holding the state columns: ``chatuser`` itself, or another
    outbox: str

    @property
    def joined(self) -> bool:
        return self.state != self.chatuser

    @property
    def key(self) -> str:
        return "chatuser_id" if self.joined else "id"

    def tables(self) -> list[str]:
        return list(dict.fromkeys([self.chatuser, self.state, self.outbox]))

    def from_clause(self) -> tuple[str, str]:
        """``FROM`` with the chat user as ``c``, and the alias the state columns are read on."""
        if self.joined:
            return f"{self.chatuser} c JOIN {self.state} s ON s.chatuser_id = c.id", "s"
        return f"{self.chatuser} c", "c"


ROW = Layout(
    "state_on_row", "public.chatusers_chatuser", "public.chatusers_chatuser", "public.sync_outboxentry"
)
NARROW = Layout("narrow_table", "narrow.chatuser", "narrow.chatuser_sync", "narrow.outboxentry")
HOT = Layout("hot_row", "hot.chatuser", "hot.chatuser", "hot.outboxentry")


# -- the data ---------------------------------------------------------------------------


def load(users: int, bot_id: int, seed: int = 7) -> float:
    """COPY ``users`` chat users into the migrated table, every one pushed before (a remote
    id, a snapshot, Userbot's ``updated_at``), one in a thousand in error; seconds."""
    from django.db import connection

    rng = random.Random(seed)
    started = time.perf_counter()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    columns = (
        "id, bot_id, remote_id, client_ref, sync_state, synced_at, remote_updated_at, sync_error,"
        " synced_snapshot, name, surname, email, phone, channel, language, created_at, last_seen_at,"
        " updated_at"
    )
    with connection.cursor() as cursor:
        constraints, indexes = _secondary_structures(cursor)
        for table, name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        with (
            connection.connection.cursor() as raw,
            raw.copy(f"COPY chatusers_chatuser ({columns}) FROM STDIN") as copy,
        ):
            for i in range(1, users + 1):
                first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
                email, phone = f"{first}.{last}{i}@example.com".lower(), f"+39{3000000000 + i}"
                channel, language = rng.choice(CHANNELS), rng.choice(LANGUAGES)
                created = base + timedelta(seconds=i * 30 + rng.randrange(30))
                seen = created + timedelta(days=rng.randrange(60)) if i % 2 else None
                synced = created + timedelta(days=1)
                doc = {**FLOOR_SNAPSHOT, "name": first, "surname": last, "email": email, "phone": phone,
                       "channel": channel, "language": language}  # fmt: skip
                error = i % 1000 == 0
                copy.write_row(
                    (
                        i, bot_id, f"u{i}", f"{i:032x}", "error" if error else "synced", synced, synced,
                        "timeout" if error else "", orjson.dumps(doc).decode(), first, last, email, phone,
                        channel, language, created, seen, synced,
                    )
                )  # fmt: skip
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in reversed(constraints):
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute("SELECT setval(pg_get_serial_sequence('chatusers_chatuser', 'id'), %s)", [users])
    return time.perf_counter() - started


def build_copy(layout: Layout, *, fillfactor: int = 100) -> float:
    """Make ``layout``'s tables from the loaded chat users (its own outbox too); seconds.
    The chat user table keeps every index of the migrated one but those on ``sync_state``."""
    from django.db import connection

    started = time.perf_counter()
    schema = layout.chatuser.split(".")[0]
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
        cursor.execute(
            f"CREATE TABLE {layout.chatuser} (LIKE public.chatusers_chatuser INCLUDING DEFAULTS"
            f" INCLUDING GENERATED INCLUDING IDENTITY) WITH (fillfactor = {fillfactor})"
        )
        if layout.joined:
            cursor.execute(
                f"ALTER TABLE {layout.chatuser} " + ", ".join(f"DROP COLUMN {c}" for c in STATE_COLUMNS)
            )
        cursor.execute(
            "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
            [layout.chatuser],
        )
        columns = cursor.fetchone()[0]
        copied = f"INSERT INTO {layout.chatuser} ({columns}) SELECT {columns} FROM public.chatusers_chatuser"  # noqa: S608
        cursor.execute(copied)
        cursor.execute(f"ALTER TABLE {layout.chatuser} ADD PRIMARY KEY (id)")
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = 'public.chatusers_chatuser'::regclass AND NOT indisprimary"
        )
        for (definition,) in cursor.fetchall():
            if "sync_state" not in definition:
                cursor.execute(
                    definition.replace(" ON public.chatusers_chatuser ", f" ON {layout.chatuser} ")
                )
        if layout.joined:
            cursor.execute(
                f"CREATE TABLE {layout.state} (chatuser_id bigint PRIMARY KEY"
                f" REFERENCES {layout.chatuser} (id) ON DELETE CASCADE, bot_id bigint NOT NULL,"
                " created_at timestamptz NOT NULL, sync_state varchar(10) NOT NULL, synced_at timestamptz,"
                " remote_updated_at timestamptz, sync_error text NOT NULL,"
                " synced_snapshot jsonb)"
            )
            cursor.execute(
                f"INSERT INTO {layout.state} SELECT id, bot_id, created_at, {', '.join(STATE_COLUMNS)}"  # noqa: S608
                " FROM public.chatusers_chatuser"
            )
            # What the admin's filter and counts look for, newest first: the few objects not
            # synced. The bot and the creation time are copied here (neither ever changes) so
            # that one index serves the filtered page whatever the planner thinks their number.
            cursor.execute(
                f"CREATE INDEX chatuser_sync_unsynced ON {layout.state}"
                " (bot_id, sync_state, created_at, chatuser_id) WHERE sync_state <> 'synced'"
            )
        cursor.execute(f"CREATE TABLE {layout.outbox} (LIKE public.sync_outboxentry INCLUDING ALL)")
    return time.perf_counter() - started


def vacuum(layout: Layout) -> float:
    """VACUUM ANALYZE the layout's tables (autovacuum is off: the benchmark does it, between
    cycles, and times it: the index cleanup of a cycle's dead rows is work it caused); seconds."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in layout.tables():
            cursor.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


# -- one cycle --------------------------------------------------------------------------


class Meter:
    """Milliseconds and WAL bytes per phase, summed over the phase's statements."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self.wal: dict[str, int] = defaultdict(int)

    def run(self, phase: str, cursor: Any, fn: Any) -> Any:
        cursor.execute("SELECT pg_current_wal_lsn()")
        lsn = cursor.fetchone()[0]
        started = time.perf_counter()
        result = fn()
        self.ms[phase] += (time.perf_counter() - started) * 1000
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", [lsn])
        self.wal[phase] += cursor.fetchone()[0]
        return result


def table_counts(cursor: Any, tables: list[str]) -> dict[str, tuple[int, int]]:
    """Updates and HOT updates so far per table, flushed from this backend's counters first."""
    cursor.execute("SELECT pg_stat_force_next_flush()")
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(
        "SELECT relid::regclass::text, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
        " WHERE relid = ANY(%s::regclass[])",
        [tables],
    )
    found = {name: (upd, hot) for name, upd, hot in cursor.fetchall()}
    return {table: found[table.removeprefix("public.")] for table in tables}


def cycle(layout: Layout, bot_id: int, ids: list[int], *, new_remote_ids: str = "") -> dict[str, Any]:
    """Mark ``ids`` pending, run the admin's filter, claim and record them, on ``layout``.
    With ``new_remote_ids`` (a prefix) Userbot answers new remote ids, as for a first push."""
    from django.db import connection, transaction
    from django.utils import timezone

    from backoffice.sync.relay import _CLAIMED_COLUMNS

    meter = Meter()
    tables = layout.tables()
    frm, st = layout.from_clause()
    worker = f"bench:{os.getpid()}"
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")  # every cycle starts from one: the same full-page writes
        before = table_counts(cursor, tables)

        # Mark: ``outbox.mark_changed_ids``' statements (the import's), a chunk a transaction.
        def mark(chunk: list[int]) -> None:
            now = timezone.now()
            with transaction.atomic():
                cursor.execute(
                    f"INSERT INTO {layout.outbox} (bot_id, object_type, object_id, deleted, remote_id,"  # noqa: S608
                    " client_ref, state, attempts, claimed_by, last_error, created_at, updated_at)"
                    " SELECT %s, %s, id, false, '', '', 'pending', 0, '', '', %s, %s"
                    " FROM unnest(%s::bigint[]) AS id ON CONFLICT DO NOTHING",
                    [bot_id, LABEL, now, now, chunk],
                )
                cursor.execute(
                    f"UPDATE {layout.state} SET sync_state = 'pending'"  # noqa: S608
                    f" WHERE {layout.key} = ANY(%s) AND sync_state NOT IN ('pending', 'conflict')",
                    [chunk],
                )

        for start in range(0, len(ids), BATCH):
            meter.run("mark", cursor, lambda start=start: mark(ids[start : start + BATCH]))
        middle = table_counts(cursor, tables)
        counts["mark"] = {t: _minus(middle[t], before[t]) for t in tables}

        # The admin's changelist filtered by sync state while the push waits, planned first with
        # the statistics of before the push (autoanalyze lags a bulk change), then once more
        # after an ANALYZE of the state's table (untimed): what the planner's estimate costs.
        admin = changelist(cursor, layout, bot_id)
        meter.ms["admin"] = sum(admin.values())
        cursor.execute(f"ANALYZE {layout.state}")
        analysed = changelist(cursor, layout, bot_id)

        # Claim and record, batch by batch as the relay goes: its claim statement verbatim, the
        # read of the claimed objects (``push_fields``), then ``complete_held`` and
        # ``record_synced`` in one transaction.
        claim_sql = f"""
            UPDATE {layout.outbox} SET state = %s, claimed_by = %s, claimed_at = %s, attempts = attempts + 1
            WHERE id = ANY(ARRAY(
                SELECT e.id FROM {layout.outbox} e
                WHERE e.bot_id = %s AND e.state = %s
                  AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= %s)
                  AND (e.object_type, e.object_id) NOT IN (
                      SELECT f.object_type, f.object_id FROM {layout.outbox} f
                      WHERE f.bot_id = %s AND f.state = %s
                  )
                ORDER BY e.id LIMIT %s FOR UPDATE SKIP LOCKED
            ))
            RETURNING {", ".join(_CLAIMED_COLUMNS)}
        """  # noqa: S608
        read_sql = (
            "SELECT c.id, c.bot_id, c.name, c.surname, c.email, c.phone, c.channel, c.language, c.remote_id,"  # noqa: S608
            f" c.client_ref, {st}.sync_state, {st}.remote_updated_at, {st}.synced_snapshot FROM {frm}"
            " WHERE c.id IN (SELECT unnest(%s::bigint[]))"
        )
        object_id_at = _CLAIMED_COLUMNS.index("object_id")

        def claim() -> tuple[list[Any], list[Any]]:
            now = timezone.now()
            with transaction.atomic():
                cursor.execute(
                    claim_sql, ["in_flight", worker, now, bot_id, "pending", now, bot_id, "in_flight", BATCH]
                )
                entries = sorted(cursor.fetchall())
            cursor.execute(read_sql, [[e[object_id_at] for e in entries]])
            return entries, cursor.fetchall()

        remote_id_ms: list[float] = []  # the narrow layout's write of new remote ids, apart

        def record(entry_ids: list[int], rows_json: str, new_ids_json: str | None) -> None:
            now = timezone.now()
            with transaction.atomic():
                cursor.execute(
                    f"DELETE FROM {layout.outbox} WHERE id = ANY(%s)"  # noqa: S608
                    " AND claimed_by = %s AND state = %s RETURNING id",
                    [entry_ids, worker, "in_flight"],
                )
                cursor.fetchall()
                _record_synced(cursor, layout, rows_json, now)
                if new_ids_json is not None:
                    started = time.perf_counter()
                    cursor.execute(
                        f"UPDATE {layout.chatuser} AS t SET remote_id = v.remote_id"  # noqa: S608
                        " FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, remote_id text)"
                        " WHERE t.id = v.id",
                        [new_ids_json],
                    )
                    remote_id_ms.append((time.perf_counter() - started) * 1000)

        pushed = 0
        while True:
            entries, objects = meter.run("claim", cursor, claim)
            if not entries:
                break
            # Built off the clock: the relay's Python, the same for every layout.
            answered = datetime.now(UTC)
            docs = [
                {
                    "id": obj[0],
                    "remote_id": f"{new_remote_ids}{obj[0]}" if new_remote_ids else obj[8],
                    "snapshot": obj[12],
                    "updated_at": answered,
                    "error": "",
                    "state": None,
                }
                for obj in objects
            ]
            new_ids = None
            if layout.joined:
                # The remote id stays on the chat user: written there only when Userbot gave a new one.
                if new_remote_ids:
                    new_ids = orjson.dumps(
                        [{"id": d["id"], "remote_id": d["remote_id"]} for d in docs]
                    ).decode()
                for doc in docs:
                    del doc["remote_id"]
            rows_json = orjson.dumps(docs).decode()
            entry_ids = [e[0] for e in entries]
            meter.run(
                "record", cursor, lambda ids=entry_ids, rows=rows_json, new=new_ids: record(ids, rows, new)
            )
            pushed += len(entries)
        after = table_counts(cursor, tables)
        counts["claim+record"] = {t: _minus(after[t], middle[t]) for t in tables}
    if pushed != len(ids):
        raise SystemExit(f"{layout.name}: pushed {pushed} of {len(ids)}")
    return {
        "ms": dict(meter.ms),
        "wal": dict(meter.wal),
        "counts": counts,
        "admin": admin,
        "admin_analysed": analysed,
        "remote_id_ms": remote_id_ms,
    }


def changelist(cursor: Any, layout: Layout, bot_id: int) -> dict[str, float]:
    """The admin's changelist of a bot filtered by each sync state (and unfiltered): the
    paginator's count capped at 1,001 and the page of 100, newest first; the median
    milliseconds of each, summed per state."""
    frm, st = layout.from_clause()
    timings: dict[str, float] = {}
    for state in ADMIN_STATES:
        # The narrow table's filter on a state other than synced reads its own copy of the
        # bot and the creation time, which its partial index holds in the page's order.
        by = "s" if layout.joined and state not in (None, "synced") else "c"
        where = f"{by}.bot_id = %s" + (f" AND {st}.sync_state = %s" if state else "")
        order = f"{by}.created_at DESC, {by}.{'chatuser_id' if by == 's' else 'id'} DESC"
        params = [bot_id, state] if state else [bot_id]
        statements = [
            f"SELECT COUNT(*) FROM (SELECT c.id FROM {frm} WHERE {where} LIMIT 1001) AS capped",  # noqa: S608
            f"SELECT c.id, c.name, c.surname, c.email, c.phone, c.channel, c.language, c.created_at,"  # noqa: S608
            f" c.last_seen_at, c.remote_id, c.bot_id, {st}.sync_state, {st}.synced_at, {st}.sync_error"
            f" FROM {frm} WHERE {where} ORDER BY {order} LIMIT 100",
        ]
        if state is None:
            statements = statements[1:]  # an unfiltered list is never counted (an estimate)
        for sql in statements:
            runs = []
            for _ in range(ADMIN_RUNS):
                started = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                runs.append((time.perf_counter() - started) * 1000)
            timings[state or "all"] = timings.get(state or "all", 0.0) + statistics.median(runs)
    return timings


def _record_synced(cursor: Any, layout: Layout, rows_json: str, now: datetime) -> None:
    """``db.record_synced``'s statement on the layout's state table (the remote id only
    where it lives beside the state)."""
    remote_id = "" if layout.joined else "remote_id = COALESCE(v.remote_id, t.remote_id),"
    columns = "id bigint, snapshot jsonb, updated_at timestamptz, error text, state text"
    if not layout.joined:
        columns = "id bigint, remote_id text, snapshot jsonb, updated_at timestamptz, error text, state text"
    cursor.execute(
        f"""
        UPDATE {layout.state} AS t SET
            {remote_id}
            synced_snapshot = v.snapshot,
            remote_updated_at = COALESCE(v.updated_at, t.remote_updated_at),
            synced_at = %s,
            sync_error = v.error,
            sync_state = CASE
                WHEN v.state IS NOT NULL THEN v.state
                WHEN t.sync_state = %s THEN t.sync_state
                WHEN EXISTS (
                    SELECT 1 FROM {layout.outbox} o
                    WHERE o.object_type = %s AND o.object_id = t.{layout.key} AND o.state = %s
                ) THEN %s
                WHEN EXISTS (
                    SELECT 1 FROM {layout.outbox} o
                    WHERE o.object_type = %s AND o.object_id = t.{layout.key} AND o.state = %s
                ) THEN %s
                ELSE %s END
        FROM jsonb_to_recordset(%s::jsonb) AS v({columns})
        WHERE t.{layout.key} = v.id
        """,  # noqa: S608
        [now, "conflict", LABEL, "pending", "pending", LABEL, "dead", "error", "synced", rows_json],
    )


def _minus(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] - b[0], a[1] - b[1]


# -- the report -------------------------------------------------------------------------

PHASES = ("mark", "admin", "claim", "record")


def report(results: list[tuple[str, str, int, dict[str, Any]]], push: int) -> None:
    print(f"\n{'scenario':<11} {'layout':<13} {'rnd':>3} " + " ".join(f"{p + ' ms':>10}" for p in PHASES)
          + f" {'cycle ms':>10} {'vacuum ms':>10}")  # fmt: skip
    for scenario, layout, rnd, r in results:
        cells = " ".join(f"{r['ms'].get(p, 0):>10.0f}" for p in PHASES)
        total = sum(r["ms"].values())
        print(f"{scenario:<11} {layout:<13} {rnd:>3} {cells} {total:>10.0f} {r['vacuum_ms']:>10.0f}")
    print("\nupdates (HOT) per table, last round:")
    last: dict[tuple[str, str], dict[str, Any]] = {(s, lay): r for s, lay, _, r in results}
    for (scenario, layout), r in last.items():
        for phase, per_table in r["counts"].items():
            text = ", ".join(f"{t} {upd} ({hot} HOT)" for t, (upd, hot) in per_table.items() if upd)
            print(f"  {scenario:<11} {layout:<13} {phase:<13} {text or 'no updates'}")
    layouts = list(dict.fromkeys(lay for _, lay, _, _ in results))
    base = layouts[0]
    print(f"\nmedian [min-max] over rounds; rows/s for {push} chat users; ratio = layout / {base}")
    print(f"{'scenario':<11} {'phase':<7} {'layout':<13} {'ms':>22} {'rows/s':>9} {'WAL MB':>8} {'ratio':>6}")
    totals: dict[tuple[str, str], float] = {}
    for scenario in dict.fromkeys(s for s, _, _, _ in results):
        for phase in (*PHASES, "cycle", "vacuum"):
            medians = {}
            for layout in layouts:
                runs = [r for s, lay, _, r in results if s == scenario and lay == layout]
                if phase == "cycle":
                    ms = [sum(r["ms"].values()) for r in runs]
                    wal = [sum(r["wal"].values()) for r in runs]
                elif phase == "vacuum":
                    ms, wal = [r["vacuum_ms"] for r in runs], [r["vacuum_wal"] for r in runs]
                else:
                    ms, wal = [r["ms"].get(phase, 0.0) for r in runs], [r["wal"].get(phase, 0) for r in runs]
                medians[layout] = statistics.median(ms)
                if phase == "cycle":
                    totals[(scenario, layout)] = medians[layout]
                rate = (
                    f"{push / medians[layout] * 1000:>9.0f}"
                    if phase not in ("admin", "vacuum")
                    else f"{'-':>9}"
                )
                spread = f"{medians[layout]:.0f} [{min(ms):.0f}-{max(ms):.0f}]"
                ratio = medians[layout] / medians[base] if medians[base] else 0.0
                print(f"{scenario:<11} {phase:<7} {layout:<13} {spread:>22} {rate} "
                      f"{statistics.median(wal) / 1e6:>8.1f} {ratio:>6.2f}")  # fmt: skip
    print("\nadmin changelist by sync state, ms (count + page; median over rounds), as planned with")
    print("the statistics of before the push | after an ANALYZE of the state's table:")
    for layout in layouts:
        runs = [r for s, lay, _, r in results if s == "edit" and lay == layout]
        cells = ", ".join(
            f"{k} {statistics.median(r['admin'][k] for r in runs):.1f}"
            f" | {statistics.median(r['admin_analysed'][k] for r in runs):.1f}"
            for k in runs[0]["admin"]
        )
        print(f"  {layout:<13} {cells}")
    for layout in layouts:
        runs = [r for s, lay, _, r in results if s == "first_push" and lay == layout and r["remote_id_ms"]]
        if runs:
            ms = statistics.median(sum(r["remote_id_ms"]) for r in runs)
            print(f"first_push {layout}: of its record, the chat users' new remote ids took {ms:.0f} ms")
    row, narrow = totals[("edit", ROW.name)], totals[("edit", NARROW.name)]
    print(f"state_on_row_ms={row:.0f} narrow_table_ms={narrow:.0f} ratio={narrow / row:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--push", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="cycles of each layout, alternating")
    parser.add_argument(
        "--hot-row",
        type=int,
        default=0,
        metavar="FILLFACTOR",
        help="also time the state on the row without its state indexes, at this fillfactor",
    )
    parser.add_argument("--no-first-push", dest="first_push", action="store_false")
    parser.add_argument("--keep", action="store_true", help="reuse the loaded bench database if present")
    args = parser.parse_args()

    url = bench_database(os.environ.get("DATABASE_URL", ""), "_state", fresh=not args.keep)
    setup_django(url, migrate=True)
    from django.db import connection

    from backoffice.userbot.models import Bot
    from chatusers.models import ChatUser

    layouts = [ROW, NARROW, *([HOT] if args.hot_row else [])]
    bot = Bot.objects.first()
    if bot is None or ChatUser.objects.count() != args.users:
        ChatUser.objects.all().delete()
        bot = bot or Bot(name="Bench", sitekey="bench-bot", server_url="ws://127.0.0.1:1/")
        bot.set_apikey("bench-key")
        bot.save()
        print(f"loaded {args.users} chat users in {load(args.users, bot.pk):.1f} s", flush=True)
    for layout in layouts[1:]:
        seconds = build_copy(layout, fillfactor=args.hot_row if layout is HOT else 100)
        print(f"made {layout.name}'s tables in {seconds:.1f} s", flush=True)
    with connection.cursor() as cursor:
        for layout in layouts:
            vacuum(layout)
            for table in layout.tables():
                cursor.execute(
                    "SELECT pg_size_pretty(pg_table_size(%s)), pg_size_pretty(pg_indexes_size(%s)),"
                    " (SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass),"
                    " coalesce((SELECT option_value FROM pg_options_to_table((SELECT reloptions FROM pg_class"
                    " WHERE oid = %s::regclass)) WHERE option_name = 'fillfactor'), '100')",
                    [table, table, table, table],
                )
                size, index_size, indexes, fillfactor = cursor.fetchone()
                print(f"{layout.name:<13} {table:<28} heap {size:>8}, {indexes:>2} indexes {index_size:>8},"
                      f" fillfactor {fillfactor}")  # fmt: skip
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index"
            " WHERE indrelid = 'public.chatusers_chatuser'::regclass AND pg_get_indexdef(indexrelid)"
            " ~ 'sync_state|synced_at|remote_updated_at|sync_error|synced_snapshot'"
        )
        print("indexes of chatusers_chatuser on a state column:", ", ".join(r[0] for r in cursor.fetchall()))

    rng = random.Random(11)
    candidates = [i for i in range(1, args.users + 1) if i % 1000]  # the ones in error stay so
    scenarios = [("edit", ""), *([("first_push", "r")] if args.first_push else [])]
    results = []
    for rnd in range(args.rounds):
        for scenario, prefix in scenarios:
            ids = sorted(rng.sample(candidates, args.push))
            order = layouts if rnd % 2 == 0 else layouts[::-1]
            for layout in order:
                result = cycle(layout, bot.pk, ids, new_remote_ids=f"{prefix}{rnd}-" if prefix else "")
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_current_wal_lsn()")
                    lsn = cursor.fetchone()[0]
                    result["vacuum_ms"] = vacuum(layout) * 1000
                    cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", [lsn])
                    result["vacuum_wal"] = cursor.fetchone()[0]
                results.append((scenario, layout.name, rnd, result))
                ms = " ".join(f"{p} {result['ms'].get(p, 0):.0f}" for p in PHASES)
                print(
                    f"round {rnd} {scenario} {layout.name}: {ms}, vacuum {result['vacuum_ms']:.0f} ms",
                    flush=True,
                )
    report(results, args.push)


if __name__ == "__main__":
    main()
