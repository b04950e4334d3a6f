"""Reconciliation that costs what changed: a pull again of a bot whose chat users are here.

A pull (``backoffice.sync.pull.pull_bot``) reads every list of the bot, the chat users a page
at a time; this measures what it costs when little or nothing changed on Userbot since the
last one, against the sandbox Userbot server in its own process, in a database of its own
(the one in ``DATABASE_URL`` with ``_repull`` appended, made afresh).

By default, one bot of ``--chatusers`` (1M) seeded in the sandbox, mirrored into the empty
database first (its time printed), then, each pull in a forked process of its own whose wall
time and CPU time (user and system, every thread, from ``getrusage`` in that process) are
taken around the call:

- ``wire_read_s``: the wire alone, in the same kind of process: a client of the project
  reading every page of chat users as the scan does (1000 a page, 16 in flight), decoded,
  and nothing else done with them;
- ``idle_repull_s``: the pull again with nothing changed, and its process's CPU; it must
  write nothing: the chat users whose sync record's ``synced_at`` or whose own
  ``updated_at`` moved, the history (the admin's ``LogEntry``, which every write path
  records into; the project has no django-simple-history), the outbox and the conflicts are
  counted before and after;
- ``changed_repull_s``: the pull after 1% of the chat users (``--changed``) were changed on
  Userbot through the protocol (a ``chatusers.import`` of a new surname and a new ``plan``
  variable, and an ``add-tag`` of a new tag, pipelined), with no listener, so no event
  applies them; then every changed chat user here is checked for the three new values;
- ``changed_writes_floor_s``: the database's part of settling those chat users alone (each
  row and sync record written again, the variable and the tag links deleted and inserted
  again, a history entry, set-based, 2,000 a transaction), and what it puts under the ratio
  on this machine: ``changed_vs_idle_floor`` = (idle + that) / idle.

Targets: ``repull_vs_wire`` (idle pull over the wire alone) at most 1.5,
``repull_cpu_s_per_million`` (the idle pull's CPU per million chat users) at most 10,
``changed_vs_idle`` at most 1.2.

With ``--fleet``, the production topology: twenty bots (``--fleet-bots``) of
``--fleet-small`` (50k) chat users and one of ``--fleet-large`` (1M), all in one sandbox
process, PostgreSQL and Redis (whose database in ``REDIS_URL`` is emptied first: the queue
of an earlier run), two Celery workers, beat and the event listener, each started from its
``Procfile`` line. Once every bot's first mirror finished (its time printed), for
``--minutes`` (12):

- ``max_reconcile_gap_s``: every bot's ``BotSync.pull_finished_at`` is read every second;
  a bot's gap is the longest time without a complete reconciliation finishing in the
  window, counting from its start to the first finish and from the last finish to its end
  (target: every bot at most 300 s);
- events, the first half of the window: every ~10 s (``--change-every``) a random chat user
  of a random bot gets a new surname on Userbot (``chatusers.import``), and the time until
  our database holds it is taken, to the time the write stamped on the row (``updated_at``:
  a poll's own delay on a busy machine is not the sync's) (target p95 at most 2 s);
- without events, the second half: the listener is stopped and the changes go on; each must
  be here by the end of the first reconciliation of its bot that started after it (the ones
  that are not are counted as late), and the longest wait is set beside its bot's longest
  reconcile gap. The last of them are waited for after the window.

The last line holds the figures as ``key=value`` words.

    DATABASE_URL=postgres://user@127.0.0.1:5432/name REDIS_URL=redis://127.0.0.1:6379/15 \\
        python -m benchmarks.repull [--chatusers 1000000] [--changed 0.01]
    ... python -m benchmarks.repull --fleet [--fleet-small 50000] [--fleet-large 1000000] [--minutes 12]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import resource
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from benchmarks._db import bench_database, setup_django
from benchmarks._sandbox import sandbox_process
from benchmarks._servers import bench_environment, procfile_commands, server_environment, shell_process

APIKEY = "bench-key"
SITEKEY = "repull-bot"
WINDOW = 16  # pages in flight, as the scan reads them
TAG = "repull-bench"
VARIABLE = "plan"
RECONCILE_TARGET_S = 300.0
EVENTS_TARGET_S = 2.0
# How long after a change a chat user is looked for: with events, and without (a
# reconciliation of the largest bot, and the wait for its turn, must fit in it).
EVENT_WAIT_S = 30.0
DRAIN_WAIT_S = 900.0
WATCH_EVERY_S = 0.1
POLL_SYNC_EVERY_S = 1.0
# A change counts as in time if it is here by the end of its reconciliation plus this: the
# watcher reads our database every WATCH_EVERY_S.
IN_TIME_SLACK_S = 0.5


# --- both modes -----------------------------------------------------------------------------


def _make_bot(url: str, sitekey: str, pull_interval_s: int | None = None) -> Any:
    from backoffice.sync.models import BotSync
    from backoffice.sync.pull import bot_sync
    from backoffice.userbot.models import Bot

    bot = Bot(name=sitekey, sitekey=sitekey, server_url=url)
    bot.set_apikey(APIKEY)
    bot.save()
    bot_sync(bot)
    if pull_interval_s is not None:
        BotSync.objects.filter(bot=bot).update(pull_interval_s=pull_interval_s)
    return bot


def _answer(outcome: Any) -> Any:
    """The payload of a pipelined request's 200, or its error raised."""
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome.result()


def _load() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else 0.0


# --- mode 1: one bot --------------------------------------------------------------------------


def in_child(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """``fn(*args)`` in a forked process with a database connection of its own: its result,
    and the wall and CPU seconds (user and system, every thread of that process) it took,
    both taken in the child around the call."""
    from django.db import connections

    connections.close_all()  # not to be shared with the child
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_timed, (fn, *args))


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    from django.db import connections

    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    try:
        result = fn(*args)
    finally:
        connections.close_all()
    elapsed, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return result, elapsed, cpu


def _pull(bot_id: int) -> dict[str, Any] | None:
    from backoffice.sync.pull import pull_bot
    from backoffice.userbot.models import Bot

    return pull_bot(Bot.objects.get(pk=bot_id))


def _read_pages(bot_id: int) -> tuple[int, int]:
    """Every page of the bot's chat users read as the scan reads them (``PAGE`` a page,
    ``WINDOW`` in flight, one page past the total, until a short page), decoded by the
    client and dropped: (chat users, pages)."""
    from backoffice.userbot import api
    from backoffice.userbot.connections import client_for
    from backoffice.userbot.models import Bot
    from chatusers.sync.pull import PAGE

    users = pages = 0
    with client_for(Bot.objects.get(pk=bot_id)) as client:
        client.connect()
        total = client.call(api.chatusers_get(offset=0, limit=1))["total"]
        requests = (api.chatusers_get(offset=o, limit=PAGE) for o in range(0, total + PAGE, PAGE))
        for outcome in client.iter_many(requests, window=WINDOW):
            page = _answer(outcome)["chatusers"]
            users, pages = users + len(page), pages + 1
            if len(page) < PAGE:
                break
    return users, pages


def _change_on_userbot(bot_id: int, ids: list[str]) -> int:
    """A new surname, a new value of ``VARIABLE`` and the tag ``TAG`` for each of ``ids`` on
    Userbot, a thousand chat users a request, pipelined; how many the imports updated."""
    from backoffice.userbot import api
    from backoffice.userbot.connections import client_for
    from backoffice.userbot.models import Bot
    from chatusers.sync.push import import_csv

    requests = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = [[rid, *_new_values(rid)] for rid in chunk]
        text = import_csv(["id", "surname", f"var:{VARIABLE}"], rows)
        requests.append(api.chatusers_import(filename="repull-bench.csv", csv=text))
        requests.append(api.chatusers_add_tag(chatuser_ids=chunk, tag_name=TAG, color="#1e88e5"))
    updated = 0
    with client_for(Bot.objects.get(pk=bot_id)) as client:
        client.connect()
        for request, outcome in zip(requests, client.iter_many(requests), strict=True):
            answer = _answer(outcome)
            if request.operation == "chatusers.import":
                if answer["errors"]:
                    raise SystemExit(f"the import refused rows: {answer['errors'][:3]}")
                updated += answer["updated"]
    return updated


def _writes_floor(bot_id: int, ids: list[str]) -> int:
    """The database's part of settling the changed chat users alone: for each, its row and its
    sync record written again, its variable and its tag links deleted and inserted again, and
    a history entry, in set-based statements of 2,000 chat users (as a re-pull settles them),
    each batch a transaction; no decision, no Python object per chat user. Returns how many."""
    from django.db import connection, transaction

    written = 0
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT chatuser_id FROM chatusers_chatusersync WHERE bot_id = %s AND remote_id = ANY(%s)",
                [bot_id, chunk],
            )
            pks = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "UPDATE chatusers_chatuser SET surname = surname, last_seen_at = last_seen_at,"
                " updated_at = now() WHERE id = ANY(%s)",
                [pks],
            )
            cursor.execute(
                "UPDATE chatusers_chatusersync SET synced_at = now(), synced_snapshot = synced_snapshot,"
                " remote_updated_at = remote_updated_at, wire_digest = wire_digest"
                " WHERE chatuser_id = ANY(%s)",
                [pks],
            )
            cursor.execute(
                "WITH gone AS (DELETE FROM chatusers_variable WHERE chatuser_id = ANY(%s) AND name = %s"
                " RETURNING chatuser_id, name, value)"
                " INSERT INTO chatusers_variable (chatuser_id, name, value) SELECT * FROM gone",
                [pks, VARIABLE],
            )
            cursor.execute(
                "WITH gone AS (DELETE FROM chatusers_chatusertag WHERE chatuser_id = ANY(%s)"
                " RETURNING chatuser_id, tag_id)"
                " INSERT INTO chatusers_chatusertag (chatuser_id, tag_id) SELECT * FROM gone",
                [pks],
            )
            cursor.execute(
                "INSERT INTO django_admin_log (action_time, user_id, content_type_id, object_id,"
                " object_repr, action_flag, change_message)"
                " SELECT now(), (SELECT min(id) FROM auth_user), (SELECT min(id) FROM django_content_type),"
                " c.id::text, c.name || ' ' || c.surname, 2, 'Changed on Userbot: surname, tags, var:plan'"
                " FROM chatusers_chatuser c WHERE c.id = ANY(%s)",
                [pks],
            )
            written += len(pks)
    return written


def _new_values(remote_id: str) -> tuple[str, str]:
    """The surname and variable value a changed chat user gets: its own, to be checked."""
    return f"Repull {remote_id[-6:]}", f"repull-{remote_id[-6:]}"


@dataclass(frozen=True)
class Footprint:
    """What a pull may write, counted before it: the time, history, outbox, conflicts."""

    at: datetime
    history: int
    outbox: int
    conflicts: int

    @classmethod
    def take(cls, bot: Any) -> Footprint:
        from django.contrib.admin.models import LogEntry
        from django.utils import timezone

        from backoffice.sync.models import OutboxEntry, SyncConflict

        return cls(
            at=timezone.now(),
            history=LogEntry.objects.count(),
            outbox=OutboxEntry.objects.filter(bot=bot).count(),
            conflicts=SyncConflict.objects.filter(bot=bot).count(),
        )

    def writes_since(self, bot: Any) -> tuple[int, str]:
        """Rows written since: how many in all, and said in words."""
        from chatusers.models import ChatUser, ChatUserSync

        now = Footprint.take(bot)
        synced = ChatUserSync.objects.filter(bot=bot, synced_at__gt=self.at).count()
        updated = ChatUser.objects.filter(bot=bot, updated_at__gt=self.at).count()
        history, outbox, conflicts = (
            now.history - self.history,
            now.outbox - self.outbox,
            now.conflicts - self.conflicts,
        )
        words = (
            f"synced_at moved on {synced} chat users, updated_at on {updated}; history (LogEntry)"
            f" {self.history} -> {now.history}, outbox {self.outbox} -> {now.outbox},"
            f" conflicts {self.conflicts} -> {now.conflicts}"
        )
        return synced + updated + abs(history) + abs(outbox) + abs(conflicts), words


def _applied(bot: Any, ids: list[str]) -> int:
    """How many of the chat users ``ids`` hold here all three values they were given on Userbot."""
    from chatusers.models import ChatUser, ChatUserTag, Variable

    held = 0
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        surnames = dict(
            ChatUser.objects.filter(bot=bot, sync__remote_id__in=chunk).values_list(
                "sync__remote_id", "surname"
            )
        )
        values = dict(
            Variable.objects.filter(
                chatuser__bot=bot, chatuser__sync__remote_id__in=chunk, name=VARIABLE
            ).values_list("chatuser__sync__remote_id", "value")
        )
        tagged = set(
            ChatUserTag.objects.filter(
                tag__bot=bot, tag__name=TAG, chatuser__sync__remote_id__in=chunk
            ).values_list("chatuser__sync__remote_id", flat=True)
        )
        for rid in chunk:
            surname, value = _new_values(rid)
            held += surnames.get(rid) == surname and values.get(rid) == value and rid in tagged
    return held


def measure_repull(count: int, share: float, seed: int) -> None:
    from chatusers.models import ChatUser, ChatUserSync

    print(f"machine: {os.cpu_count()} cores, load average {_load()}", flush=True)
    extra = ["--seed-chatusers", str(count)]
    with sandbox_process(apikey=APIKEY, sitekey=SITEKEY, extra=extra) as url:
        bot = _make_bot(url, SITEKEY)
        report, mirror_s, mirror_cpu = in_child(_pull, bot.pk)
        mirrored = ChatUser.objects.filter(bot=bot).count()
        print(f"mirror: {report} in {mirror_s:.1f} s (CPU {mirror_cpu:.1f} s); {mirrored} chat users here")
        if mirrored != count:
            raise SystemExit(f"the mirror holds {mirrored} chat users, not {count}")

        (read, pages), wire_s, wire_cpu = in_child(_read_pages, bot.pk)
        print(f"wire read: {read} chat users in {pages} pages in {wire_s:.2f} s (CPU {wire_cpu:.2f} s)")

        before = Footprint.take(bot)
        report, idle_s, idle_cpu = in_child(_pull, bot.pk)
        idle_writes, words = before.writes_since(bot)
        print(f"idle repull: {report} in {idle_s:.2f} s (CPU {idle_cpu:.2f} s)")
        print(f"idle repull wrote {'nothing' if not idle_writes else 'SOMETHING'}: {words}", flush=True)

        remote_ids = list(ChatUserSync.objects.filter(bot=bot).values_list("remote_id", flat=True))
        changed = random.Random(seed).sample(remote_ids, max(1, round(share * len(remote_ids))))
        updated, change_s, _ = in_child(_change_on_userbot, bot.pk, changed)
        print(
            f"changed on Userbot: {len(changed)} chat users ({updated} updated by the imports)"
            f" in {change_s:.2f} s",
            flush=True,
        )

        before = Footprint.take(bot)
        report, changed_s, changed_cpu = in_child(_pull, bot.pk)
        _, words = before.writes_since(bot)
        applied = _applied(bot, changed)
        print(f"changed repull: {report} in {changed_s:.2f} s (CPU {changed_cpu:.2f} s)")
        print(f"changed repull wrote: {words}")
        print(f"changed repull applied {applied} of {len(changed)} changes", flush=True)
        floored, floor_s, _ = in_child(_writes_floor, bot.pk, changed)
        print(
            f"the database's part of settling them alone: {floored} chat users written in"
            f" {floor_s:.2f} s; so a re-pull with them cannot take less than"
            f" {(idle_s + floor_s) / idle_s:.2f} times the idle one on this machine",
            flush=True,
        )
    print(f"load average after: {_load()}")
    per_million = 1_000_000 / count
    print(
        f"repull_vs_wire={idle_s / wire_s:.2f} repull_cpu_s_per_million={idle_cpu * per_million:.2f}"
        f" changed_vs_idle={changed_s / idle_s:.2f} idle_repull_s={idle_s:.2f} wire_read_s={wire_s:.2f}"
        f" changed_repull_s={changed_s:.2f} mirror_s={mirror_s:.1f} wire_cpu_s={wire_cpu:.2f}"
        f" idle_cpu_s={idle_cpu:.2f} idle_writes={idle_writes} applied={applied} expected={len(changed)}"
        f" changed_writes_floor_s={floor_s:.2f} changed_vs_idle_floor={(idle_s + floor_s) / idle_s:.2f}"
        f" chatusers={count}"
    )


# --- mode 2: the fleet ------------------------------------------------------------------------


@dataclass
class Change:
    """A chat user given a new surname on Userbot, and when it was written here: the time the
    write stamped on the chat user's row (``updated_at``), not when the watch's next poll
    happened to read it, which a busy machine delays past the pull that wrote it."""

    bot_id: int
    remote_id: str
    surname: str
    sent_at: float
    events: bool  # made while the listener ran
    seen_at: float | None = None

    @property
    def wait_s(self) -> float | None:
        return None if self.seen_at is None else self.seen_at - self.sent_at


@dataclass
class Watch:
    """Reads our database in a thread of its own: every ``WATCH_EVERY_S`` whether the changes
    made on Userbot are here yet, every ``POLL_SYNC_EVERY_S`` each bot's last reconciliation
    (``BotSync``): the starts and the finishes seen, as epoch seconds."""

    bot_ids: list[int]
    changes: list[Change] = field(default_factory=list)
    starts: dict[int, set[float]] = field(default_factory=dict)
    finishes: dict[int, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.starts = {pk: set() for pk in self.bot_ids}
        self.finishes = {pk: [] for pk in self.bot_ids}
        self.thread = threading.Thread(target=self._run, name="repull-watch", daemon=True)

    @contextmanager
    def running(self) -> Iterator[Watch]:
        self.thread.start()
        try:
            yield self
        finally:
            self.stopping.set()
            self.thread.join(timeout=30)

    def add(self, change: Change) -> None:
        with self.lock:
            self.changes.append(change)

    def outstanding(self, *, events: bool | None = None) -> list[Change]:
        with self.lock:
            return [c for c in self.changes if c.seen_at is None and events in (None, c.events)]

    def _run(self) -> None:
        from django.db import connection

        next_sync = 0.0
        try:
            while not self.stopping.wait(WATCH_EVERY_S):
                self._look_for_changes()
                if time.monotonic() >= next_sync:
                    self._read_syncs()
                    next_sync = time.monotonic() + POLL_SYNC_EVERY_S
        finally:
            connection.close()

    def _look_for_changes(self) -> None:
        from chatusers.models import ChatUser

        waiting = self.outstanding()
        if not waiting:
            return
        held = {
            (bot_id, rid): (surname, written)
            for bot_id, rid, surname, written in ChatUser.objects.filter(
                sync__remote_id__in={c.remote_id for c in waiting}
            ).values_list("bot_id", "sync__remote_id", "surname", "updated_at")
        }
        with self.lock:
            for change in waiting:
                surname, written = held.get((change.bot_id, change.remote_id), (None, None))
                if surname == change.surname:
                    change.seen_at = written.timestamp()

    def _read_syncs(self) -> None:
        from backoffice.sync.models import BotSync

        rows = BotSync.objects.filter(bot_id__in=self.bot_ids).values_list(
            "bot_id", "pull_started_at", "pull_finished_at"
        )
        with self.lock:
            for bot_id, started, finished in rows:
                if started is not None:
                    self.starts[bot_id].add(started.timestamp())
                done = self.finishes[bot_id]
                if finished is not None and (not done or finished.timestamp() > done[-1]):
                    done.append(finished.timestamp())

    def max_gap(self, bot_id: int, start: float, end: float) -> tuple[float, int]:
        """The bot's longest time in [start, end] without a reconciliation finishing (from the
        start to the first finish, between finishes, from the last to the end), and how many
        finished in it."""
        inside = [f for f in self.finishes[bot_id] if start < f <= end]
        points = [start, *inside, end]
        return max(b - a for a, b in itertools.pairwise(points)), len(inside)

    def deadline(self, bot_id: int, at: float) -> float | None:
        """When the first reconciliation of the bot that started after ``at`` finished (a run's
        start is the latest start seen at or before its finish), if one did."""
        starts = sorted(self.starts[bot_id])
        for finish in self.finishes[bot_id]:
            began = [s for s in starts if s <= finish]
            if began and began[-1] > at:
                return finish
        return None


class Changer:
    """Changes a random chat user of a random bot on Userbot, through the protocol: a client of
    its own per bot, a new surname by ``chatusers.import``, as anyone editing on Userbot would."""

    def __init__(self, bots: list[Any], rng: random.Random) -> None:
        self.bots, self.rng = bots, rng
        self.clients: dict[int, Any] = {}
        self.made = 0

    def change(self, watch: Watch, *, events: bool) -> Change:
        from backoffice.userbot import api
        from backoffice.userbot.connections import client_for
        from chatusers.sync.push import import_csv

        bot = self.rng.choice(self.bots)
        client = self.clients.get(bot.pk)
        if client is None:
            client = self.clients[bot.pk] = client_for(bot)
            client.connect()
        busy = {c.remote_id for c in watch.outstanding()}
        total = client.call(api.chatusers_get(offset=0, limit=1))["total"]
        while True:
            page = client.call(api.chatusers_get(offset=self.rng.randrange(total), limit=1))
            remote_id = page["chatusers"][0]["id"]
            if remote_id not in busy:
                break
        self.made += 1
        surname = f"Live {self.made} {secrets.token_hex(3)}"
        sent_at = time.time()
        answer = client.call(
            api.chatusers_import(
                filename="repull-live.csv", csv=import_csv(["id", "surname"], [[remote_id, surname]])
            )
        )
        if answer["updated"] != 1:
            raise SystemExit(f"the change of {remote_id} was not applied on Userbot: {answer}")
        change = Change(bot.pk, remote_id, surname, sent_at, events)
        watch.add(change)
        return change

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _wait_first_mirror(bots: list[Any], timeout: float) -> None:
    from backoffice.sync.models import BotSync

    deadline = time.monotonic() + timeout
    while left := list(BotSync.objects.filter(bot__in=bots, pull_finished_at__isnull=True)):
        if time.monotonic() > deadline:
            errors = "; ".join(f"{s.bot_id}: {s.pull_error or 'no error'}" for s in left[:5])
            raise SystemExit(f"{len(left)} bots were not mirrored within {timeout:.0f} s ({errors})")
        time.sleep(1.0)


def _changes_every(watch: Watch, changer: Changer, *, until: float, every_s: float, events: bool) -> None:
    """A change every ``every_s`` seconds or so (a fifth either way) until ``until``."""
    while (now := time.time()) < until:
        changer.change(watch, events=events)
        time.sleep(max(0.0, min(until - now, every_s * changer.rng.uniform(0.8, 1.2))))


def _wait_seen(watch: Watch, *, events: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while watch.outstanding(events=events) and time.monotonic() < deadline:
        time.sleep(0.2)


def measure_fleet(args: argparse.Namespace, data_dir: str) -> None:
    from django.db import connections
    from django.db.models import Count

    from backoffice.sync.models import BotSync
    from chatusers.models import ChatUser

    large = "fleet-large"
    sizes = {**{f"fleet-{n:02d}": args.fleet_small for n in range(args.fleet_bots)}, large: args.fleet_large}
    extra = [
        *(argument for sitekey in sizes if sitekey != large for argument in ("--sitekey", sitekey)),
        *("--seed-chatusers", str(args.fleet_small), "--seed-chatusers-for", f"{large}={args.fleet_large}"),
    ]
    # The broker's queue of an earlier run would pull bots of a database made since.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    print(f"machine: {os.cpu_count()} cores, load average {_load()}", flush=True)
    with ExitStack() as running:
        url = running.enter_context(sandbox_process(apikey=APIKEY, sitekey=large, extra=extra))
        bots = [_make_bot(url, sitekey, args.pull_interval) for sitekey in sizes]
        by_id = {bot.pk: bot for bot in bots}
        intervals = dict(BotSync.objects.filter(bot__in=bots).values_list("bot_id", "pull_interval_s"))
        print(
            f"fleet: {args.fleet_bots} bots of {args.fleet_small} chat users and one of {args.fleet_large},"
            f" pulled every {sorted(set(intervals.values()))} s; {args.workers} workers, beat, listener"
        )
        commands = procfile_commands()
        env = server_environment(os.environ)
        log_path = Path(data_dir) / "processes.log"
        print(f"the workers', beat's and the listener's output: {log_path}", flush=True)
        output = running.enter_context(log_path.open("ab"))
        connections.close_all()  # the processes' connections, not ours, while they start
        started = time.perf_counter()
        for n in range(args.workers):
            worker = f"{commands['worker']} --hostname repull{n}@%h"
            running.enter_context(shell_process(worker, env, output=output))
        running.enter_context(shell_process(commands["beat"], env, output=output))
        listener = running.enter_context(ExitStack())
        listener.enter_context(shell_process(commands["listener"], env, output=output))
        _wait_first_mirror(bots, 600 + 600 * sum(sizes.values()) / 1_000_000)
        mirror_s = time.perf_counter() - started
        held = dict(ChatUser.objects.values_list("bot_id").annotate(n=Count("pk")).values_list("bot_id", "n"))
        short = {
            by_id[pk].sitekey: held.get(pk, 0) for pk in by_id if held.get(pk, 0) != sizes[by_id[pk].sitekey]
        }
        print(
            f"first mirror of every bot: {mirror_s:.1f} s; {sum(held.values())} chat users here", flush=True
        )
        if short:
            raise SystemExit(f"bots not mirrored whole: {short}")

        watch = Watch(list(by_id))
        changer = running.enter_context(_closing(Changer(bots, random.Random(args.seed))))
        with watch.running():
            window_start = time.time()
            halfway, window_end = window_start + args.minutes * 30, window_start + args.minutes * 60
            print(f"with events until +{halfway - window_start:.0f} s; load average {_load()}", flush=True)
            _changes_every(watch, changer, until=halfway, every_s=args.change_every, events=True)
            _wait_seen(watch, events=True, timeout=EVENT_WAIT_S)
            listener.close()
            print(f"listener stopped; without events until +{window_end - window_start:.0f} s", flush=True)
            _changes_every(watch, changer, until=window_end, every_s=args.change_every, events=False)
            window_end = time.time()
            print(f"window over; load average {_load()}; waiting for the last changes", flush=True)
            _wait_seen(watch, events=False, timeout=DRAIN_WAIT_S)
            time.sleep(2 * POLL_SYNC_EVERY_S)  # the finishes that brought them
        report_fleet(watch, by_id, sizes, intervals, window_start, window_end, mirror_s, args)


@contextmanager
def _closing(changer: Changer) -> Iterator[Changer]:
    try:
        yield changer
    finally:
        changer.close()


def report_fleet(
    watch: Watch,
    by_id: dict[int, Any],
    sizes: dict[str, int],
    intervals: dict[int, int],
    window_start: float,
    window_end: float,
    mirror_s: float,
    args: argparse.Namespace,
) -> None:
    gaps: dict[int, float] = {}
    print(f"{'bot':<12} {'chat users':>10} {'every s':>7} {'pulls':>5} {'max gap s':>9}")
    for pk, bot in by_id.items():
        gaps[pk], finished = watch.max_gap(pk, window_start, window_end)
        print(f"{bot.sitekey:<12} {sizes[bot.sitekey]:>10} {intervals[pk]:>7} {finished:>5} {gaps[pk]:>9.1f}")
    worst = max(gaps, key=gaps.__getitem__)
    print(
        f"reconcile gap: at most {gaps[worst]:.1f} s ({by_id[worst].sitekey});"
        f" target {RECONCILE_TARGET_S:.0f} s; {sum(g > RECONCILE_TARGET_S for g in gaps.values())}"
        " bots over it"
    )

    with_events = [c for c in watch.changes if c.events]
    waits = [c.wait_s for c in with_events if c.wait_s is not None]
    missed = len(with_events) - len(waits)
    p50, p95 = (statistics.median(waits) if waits else 0.0), _percentile(waits, 0.95)
    print(
        f"events: {len(with_events)} changes, p50 {p50:.2f} s, p95 {p95:.2f} s,"
        f" max {max(waits, default=0):.2f} s (target p95 {EVENTS_TARGET_S:.0f} s);"
        f" {missed} not here within {EVENT_WAIT_S:.0f} s"
    )

    without = [c for c in watch.changes if not c.events]
    late = 0
    for change in without:
        deadline = watch.deadline(change.bot_id, change.sent_at)
        if change.seen_at is None or (deadline is not None and change.seen_at > deadline + IN_TIME_SLACK_S):
            late += 1
    seen = [c for c in without if c.wait_s is not None]
    slowest = max(seen, key=lambda c: c.wait_s or 0.0, default=None)
    no_events_max = 0.0 if slowest is None else slowest.wait_s or 0.0
    beside = (
        ""
        if slowest is None
        else (
            f" ({by_id[slowest.bot_id].sitekey}, whose longest reconcile gap"
            f" was {gaps[slowest.bot_id]:.1f} s)"
        )
    )
    print(
        f"without events: {len(without)} changes, {len(without) - len(seen)} never here;"
        f" longest wait {no_events_max:.1f} s{beside}; {late} not here by the end of the first"
        " reconciliation of their bot that started after them"
    )
    print(
        f"max_reconcile_gap_s={gaps[worst]:.1f} events_p95_s={p95:.2f} no_events_max_s={no_events_max:.1f}"
        f" events_p50_s={p50:.2f} events_n={len(with_events)} events_missed={missed}"
        f" no_events_n={len(without)} no_events_late={late} first_mirror_s={mirror_s:.1f}"
        f" bots={len(by_id)} fleet_small={args.fleet_small} fleet_large={args.fleet_large}"
        f" minutes={args.minutes:g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chatusers", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of chat users changed on Userbot")
    parser.add_argument("--fleet", action="store_true", help="the production topology instead")
    parser.add_argument("--fleet-bots", type=int, default=20, help="the small bots of the fleet")
    parser.add_argument("--fleet-small", type=int, default=50_000)
    parser.add_argument("--fleet-large", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--change-every", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers, each the Procfile's line")
    parser.add_argument(
        "--pull-interval", type=int, default=None, metavar="SECONDS", help="every bot's (default: BotSync's)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")
    data_dir = bench_environment("repull-bench-")
    setup_django(bench_database(os.environ["DATABASE_URL"], "_repull"), migrate=True)
    if args.fleet:
        measure_fleet(args, data_dir)
    else:
        measure_repull(args.chatusers, args.changed, args.seed)


if __name__ == "__main__":
    main()
