"""The sync engine at scale, on PostgreSQL and Redis, against the sandbox in its own process.

Three figures, in one run, in a database of its own (the one in ``DATABASE_URL`` with
``_syncbench`` appended, made afresh):

- push: 100k new chat users (with tags and variables) queued in the outbox, pushed by
  ``--relays`` relay processes at once (``push_pending``; a worker's pool of 2 by default)
  until the outbox is empty: chat users per second (target at least 20,000/s);
- mirror: a sandbox seeded with 1M chat users, pulled into an empty database
  (``pull_bot``): seconds (target at most 60 s);
- save to remote: on an idle system with a real Celery worker, the delay from a service
  saving a chat user (as the admin does) to the sandbox holding the change, seen as its
  ``chatusers.changed`` event: p50 and p95 over the samples (target p95 at most 1 s).

Beside the push and the mirror, the same run times the database's part of each alone,
with nothing else running: the relay's own statements for a push (claim, record on the chat
users' sync records, delete) on as many connections as the push has relays
(``push_db_alone_per_s``), and a COPY of the rows a first load writes (the chat users,
their sync records, their tags and variables), on as many connections as a scan applies
batches with (``mirror_db_alone_1m_s``); and the wire's part of the push alone: the same creates sent
from memory to a sandbox of their own, with no database work on our side
(``push_wire_alone_per_s``). The push is reported against the lower of its two floors
(``push_vs_lower_floor``), and against both done one after the other
(``push_vs_both_floors``), which is what bounds it when, as here, the database, the
sandbox and the relays share the same cores. They say
how far the schema lets the two figures go on this machine: the database has the same
cores as everything else.

The last line holds the figures as ``key=value`` words.

    DATABASE_URL=postgres://user@127.0.0.1:5432/name REDIS_URL=redis://127.0.0.1:6379/13 \\
        python -m benchmarks.sync [--push 100000] [--mirror 1000000] [--samples 50] [--no-floors]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from backoffice.runtime import tune_gc_for_bulk_work
from benchmarks._db import bench_database, setup_django
from benchmarks._sandbox import ROOT, sandbox_process
from sandbox.seed import TAG_COUNT_CUTS, VARIABLE_ODDS

APIKEY = "bench-key"
SITEKEY = "bench-bot"
FIRST = "Ada Alan Anna Bruno Carla Chiara Dario Elena Enzo Fabio Giulia Ivo Laura Luca".split()
LAST = "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco".split()
CHANNELS = ("webchat", "whatsapp", "messenger", "instagram", "telegram", "api")


def _bot(url: str, sitekey: str = SITEKEY) -> Any:
    from backoffice.sync.pull import bot_sync
    from backoffice.userbot.models import Bot

    bot = Bot(name=sitekey, sitekey=sitekey, server_url=url)
    bot.set_apikey(APIKEY)
    bot.save()
    bot_sync(bot)
    return bot


def _queue_new_chatusers(bot: Any, count: int) -> None:
    """``count`` chat users created here and queued, as an import would leave them."""
    from django.db import transaction

    from backoffice.sync.models import OutboxEntry
    from chatusers.models import ChatUser, ChatUserTag, Tag, Variable

    rng = random.Random(7)
    tags = [Tag.objects.create(bot=bot, name=f"tag-{n}", color="#1e88e5") for n in range(8)]
    for start in range(0, count, 5000):
        with transaction.atomic():
            users = ChatUser.objects.bulk_create(
                ChatUser(
                    bot=bot,
                    name=rng.choice(FIRST),
                    surname=rng.choice(LAST),
                    email=f"push{n}@example.com",
                    phone=f"+39{3_100_000_000 + n}" if n % 3 else None,
                    channel=rng.choice(CHANNELS),
                    language=rng.choice(("it", "en", "es", "")),
                )
                for n in range(start, min(count, start + 5000))
            )
            ChatUserTag.objects.bulk_create(
                ChatUserTag(chatuser=u, tag=t) for u in users for t in rng.sample(tags, rng.randint(0, 2))
            )
            Variable.objects.bulk_create(
                Variable(chatuser=u, name="plan", value=rng.choice(("free", "pro")))
                for u in users
                if rng.random() < 0.6
            )
            OutboxEntry.objects.bulk_create(
                OutboxEntry(bot=bot, object_type="chatusers.chatuser", object_id=u.pk) for u in users
            )


def measure_push(count: int, relays: int) -> float:
    """``relays`` relay processes push the same bot at once, as a worker's pool does."""

    from backoffice.sync.models import OutboxEntry

    with sandbox_process(apikey=APIKEY, sitekey="push-bot") as url:
        bot = _bot(url, "push-bot")
        _queue_new_chatusers(bot, count)
        reports, elapsed = _in_processes(_push_in_process, [bot.pk] * relays)
        left = OutboxEntry.objects.filter(bot=bot).count()
    sent = sum(sent for sent, _ in reports)
    print(f"push: {relays} relays, {' | '.join(text for _, text in reports)} in {elapsed:.1f} s;", flush=True)
    print(f"push: {left} entries left", flush=True)
    if left or sent != count:
        raise SystemExit("the push did not send everything")
    return count / elapsed


def _in_processes(fn: Any, args: list[Any]) -> tuple[list[Any], float]:
    """``fn`` on each of ``args`` at once, each in a forked process with a database
    connection of its own; returns the results and the seconds they took."""
    from django.db import connections

    connections.close_all()  # not to be shared with the children
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(args)) as pool:
        results = pool.map(fn, args)
    return results, time.perf_counter() - started


def _push_in_process(bot_id: int) -> tuple[int, str]:
    from django.db import connections

    from backoffice.sync.relay import push_pending
    from backoffice.userbot.models import Bot

    connections.close_all()
    report = push_pending(Bot.objects.get(pk=bot_id))
    return report.sent, str(report)


def measure_push_wire_floor(count: int, relays: int) -> float:
    """The wire's part of a push, alone: the same ``count`` new chat users (names, email,
    phone, channel, language, tags, a variable, a ``client_ref``) built in memory and sent as
    ``chatusers.create`` requests of 1000, pipelined, by ``relays`` processes at once, to a
    sandbox of their own: no database on our side. Chat users per second."""
    with sandbox_process(apikey=APIKEY, sitekey="wire-bot") as url:
        from backoffice.userbot import api
        from backoffice.userbot.client import UserbotClient

        with UserbotClient(url, APIKEY, "wire-bot") as client:
            # The tags exist on Userbot, as the relay's add-tags would have left them.
            for n in range(8):
                client.call(api.chatusers_add_tag(chatuser_ids=[], tag_name=f"tag-{n}", color="#1e88e5"))
        shares = [(url, part, relays, count) for part in range(relays)]
        sent, elapsed = _in_processes(_create_in_process, shares)
    print(f"push, the wire alone: {sum(sent)} chat users, {relays} connections, {elapsed:.1f} s", flush=True)
    if sum(sent) != count:
        raise SystemExit("the wire-alone push did not create everything")
    return count / elapsed


def _create_in_process(share: tuple[str, int, int, int]) -> int:
    from backoffice.userbot import api
    from backoffice.userbot.client import UserbotClient

    url, part, parts, count = share
    rng = random.Random(part)
    drafts = [
        {
            "client_ref": f"wire-{n}",
            "name": rng.choice(FIRST),
            "surname": rng.choice(LAST),
            "email": f"push{n}@example.com",
            **({"phone": f"+39{3_100_000_000 + n}"} if n % 3 else {}),
            "channel": rng.choice(CHANNELS),
            **({"language": lang} if (lang := rng.choice(("it", "en", "es", ""))) else {}),
            "tags": [f"tag-{t}" for t in rng.sample(range(8), rng.randint(0, 2))],
            "variables": [{"name": "plan", "value": rng.choice(("free", "pro"))}]
            if rng.random() < 0.6
            else [],
        }
        for n in range(part, count, parts)
    ]
    requests = [api.chatusers_create(drafts[i : i + 1000]) for i in range(0, len(drafts), 1000)]
    created = 0
    with UserbotClient(url, APIKEY, "wire-bot") as client:
        for outcome in client.iter_many(requests):
            created += len(outcome.payload["chatusers"])  # type: ignore[union-attr]
    return created


# A snapshot of the shape a pushed chat user gets (its size, not its values, is what the
# database's work depends on).
FLOOR_SNAPSHOT = {
    "name": "Giulia",
    "surname": "Esposito",
    "email": "push12345@example.com",
    "phone": "+393100012345",
    "channel": "whatsapp",
    "language": "it",
    "tags": ["tag-3", "tag-6"],
    "var:plan": "pro",
}


def measure_push_floor(count: int, connections_: int) -> float:
    """The database's part of a push, alone: ``count`` new chat users queued as for the
    push, then claimed, recorded as synced (a Userbot id, the snapshot, ``updated_at``, on
    their rows of ``chatusers_chatusersync``) and their entries deleted, a batch at a time,
    by ``connections_`` processes at once (as many as the push had relays), with the relay's
    own statements and nothing else (no socket, no documents, no reads). Chat users per
    second."""
    bot = _bot("ws://127.0.0.1:9/", "floor-bot")  # never connected to
    _queue_new_chatusers(bot, count)
    counts, elapsed = _in_processes(_record_in_process, [bot.pk] * connections_)
    done = sum(counts)
    print(
        f"push, the database alone: {done} chat users on {connections_} connections in {elapsed:.1f} s",
        flush=True,
    )
    return done / elapsed


def _record_in_process(bot_id: int) -> int:
    from django.conf import settings
    from django.db import connections, transaction
    from django.utils import timezone

    from backoffice.sync import db
    from backoffice.sync.claims import claim, worker_name
    from backoffice.userbot.models import Bot
    from chatusers.models import ChatUser

    connections.close_all()
    bot, worker, done = Bot.objects.get(pk=bot_id), worker_name(), 0
    while entries := claim(bot, limit=settings.SYNC_PUSH_BATCH, worker=worker):
        now = timezone.now()
        rows = [
            db.SyncedRow(
                pk=e.object_id,
                remote_id=f"{e.object_id:024x}",
                snapshot=FLOOR_SNAPSHOT,
                remote_updated_at=now,
            )
            for e in entries
        ]
        with transaction.atomic():
            db.complete_held([e.id for e in entries], worker)
            db.record_synced(ChatUser, rows, now=now)
        done += len(entries)
    connections.close_all()
    return done


# What a first load writes of a chat user (``chatusers.sync.writes``): its row, and its
# sync record in a narrow table of its own, every chat user having exactly one.
MIRROR_COLUMNS = (
    "id, bot_id, client_ref, name, surname, email, phone, channel, language, created_at, last_seen_at,"
    " updated_at"
)
MIRROR_RECORD_COLUMNS = (
    "chatuser_id, bot_id, created_at, remote_id, sync_state, synced_at, remote_updated_at, sync_error,"
    " synced_snapshot"
)


def measure_mirror_floor(count: int, connections_: int) -> float:
    """The database's part of a first load, alone: ``count`` chat users as a first load
    writes them (every column), their sync records (synced, the Userbot id, the snapshot),
    and their tags and variables as many as the sandbox seeds (about 0.9 tags and 1.55
    variables a chat user), COPYed into an empty bot, 5000 chat users to a transaction (a
    COPY into each table), by ``connections_`` processes at once (as many as a scan applies
    batches with). The rows are written out beforehand, their ids drawn from the chat users'
    sequence, so only the COPYs and their commits are timed. Seconds."""
    from django.db import connection

    from chatusers.models import Tag

    bot = _bot("ws://127.0.0.1:9/", "floor-mirror-bot")
    tag_ids = [Tag.objects.create(bot=bot, name=f"tag-{n}", color="#1e88e5").pk for n in range(8)]
    rng = random.Random(11)
    stamp = "2026-01-02T03:04:05+00:00"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('chatusers_chatuser', 'id')) FROM generate_series(1, %s)",
            [count],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    with tempfile.TemporaryDirectory() as folder:
        batches = []
        for start in range(0, count, 5000):
            users, records, links, variables = [], [], [], []
            for n in range(start, min(count, start + 5000)):
                name, surname = rng.choice(FIRST), rng.choice(LAST)
                email, phone = f"mirror{n}@example.com", f"+39{3_200_000_000 + n}" if n % 3 else None
                channel, language = rng.choice(CHANNELS), rng.choice(("it", "en", "es", ""))
                doc = {**FLOOR_SNAPSHOT, "name": name, "surname": surname, "email": email, "phone": phone}
                user = (ids[n], bot.pk, f"{rng.getrandbits(128):032x}", name, surname, email, phone, channel,
                        language, stamp, None, stamp)  # fmt: skip
                record = (ids[n], bot.pk, stamp, f"{n:024x}", "synced", stamp, stamp, "",
                          orjson.dumps(doc).decode())  # fmt: skip
                users.append("\t".join("\\N" if v is None else str(v) for v in user))
                records.append("\t".join("\\N" if v is None else str(v) for v in record))
                roll = rng.random()
                tags = sum(roll >= cut for cut in TAG_COUNT_CUTS)
                links.extend(f"{ids[n]}\t{tag}" for tag in rng.sample(tag_ids, tags))
                variables.extend(
                    f"{ids[n]}\t{name}\t{rng.randrange(100)}"
                    for name, odds in zip(("plan", "city", "orders"), VARIABLE_ODDS, strict=True)
                    if rng.random() < odds
                )
            paths = tuple(
                Path(folder) / f"{start}.{table}.tsv" for table in ("users", "records", "tags", "vars")
            )
            for path, lines in zip(paths, (users, records, links, variables), strict=True):
                path.write_text("\n".join(lines) + "\n" if lines else "")
            batches.append(tuple(str(path) for path in paths))
        _, elapsed = _in_processes(_copy_in_process, [batches[k::connections_] for k in range(connections_)])
    print(
        f"mirror, the database alone: {count} chat users on {connections_} connections in {elapsed:.1f} s",
        flush=True,
    )
    return elapsed


def _copy_in_process(batches: list[tuple[str, ...]]) -> None:
    from django.db import connection, connections, transaction

    connections.close_all()
    targets = (
        f"chatusers_chatuser ({MIRROR_COLUMNS})",
        f"chatusers_chatusersync ({MIRROR_RECORD_COLUMNS})",
        "chatusers_chatusertag (chatuser_id, tag_id)",
        "chatusers_variable (chatuser_id, name, value)",
    )
    for paths in batches:
        with transaction.atomic(), connection.cursor() as cursor:
            for target, path in zip(targets, paths, strict=True):
                with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                    copy.write(Path(path).read_bytes())
    connections.close_all()


def measure_mirror(count: int) -> float:
    from backoffice.sync.pull import pull_bot
    from chatusers.models import ChatUser

    extra = ["--seed-chatusers", str(count)]
    with sandbox_process(apikey=APIKEY, sitekey="mirror-bot", extra=extra) as url:
        bot = _bot(url, "mirror-bot")
        started = time.perf_counter()
        report = pull_bot(bot)
        elapsed = time.perf_counter() - started
    mirrored = ChatUser.objects.filter(bot=bot).count()
    print(f"mirror: {report} in {elapsed:.1f} s; {mirrored} chat users here", flush=True)
    if mirrored != count:
        raise SystemExit(f"the mirror holds {mirrored} chat users, not {count}")
    return elapsed


def measure_save_to_remote(samples: int, database_url: str) -> tuple[float, float]:
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings

    from backoffice.sync.relay import push_pending
    from backoffice.userbot.connections import client_for
    from chatusers import services

    with sandbox_process(apikey=APIKEY, sitekey="latency-bot") as url:
        bot = _bot(url, "latency-bot")
        actor = get_user_model().objects.create_user("bench-operator")
        users = [services.chatuser_create(bot=bot, actor=actor, name=f"L{n}") for n in range(samples)]
        push_pending(bot)
        for user in users:
            user.refresh_from_db()
        arrived: dict[str, float] = {}
        seen = threading.Condition()

        def on_event(event: Any) -> None:
            if event.payload.get("op") == "updated":
                with seen:
                    arrived[event.payload["id"]] = time.perf_counter()
                    seen.notify_all()

        worker = _start_worker(database_url)
        listener = client_for(bot)
        delays = []
        try:
            listener.subscribe("chatusers", on_event)
            time.sleep(3)  # the worker is up and idle
            with override_settings(SYNC_WAKE_ON_COMMIT=True):
                for n, user in enumerate(users):
                    started = time.perf_counter()
                    services.chatuser_update(chatuser=user, actor=actor, name=f"Saved {n}")
                    with seen:
                        if not seen.wait_for(lambda u=user: u.remote_id in arrived, timeout=30):
                            raise SystemExit(f"sample {n} never reached the sandbox")
                    delays.append(arrived.pop(user.remote_id) - started)
                    time.sleep(0.2)
        finally:
            listener.close()
            worker.terminate()
            worker.wait(timeout=30)
    delays.sort()
    p95 = delays[min(len(delays) - 1, round(0.95 * len(delays)) - 1)]
    print(
        f"save to remote: p50 {statistics.median(delays) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms", flush=True
    )
    return statistics.median(delays), p95


def _start_worker(database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "backoffice",
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
        ],
        cwd=Path(ROOT),
        env=env,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--push", type=int, default=100_000)
    parser.add_argument("--relays", type=int, default=2, help="relay processes pushing at once")
    parser.add_argument("--mirror", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument(
        "--no-floors",
        dest="floors",
        action="store_false",
        help="skip timing the database's part of the push and of the mirror alone",
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")
    url = bench_database(os.environ["DATABASE_URL"], "_syncbench")
    setup_django(url, migrate=True)
    # The push and the pull run in Celery workers, whose processes are tuned for bulk work
    # (backoffice/celery.py): so are this one and the relays it forks.
    tune_gc_for_bulk_work()
    from chatusers.sync.pull import APPLIERS  # once Django is set up

    # A part given 0 is skipped (its figure prints as 0), to measure one part alone.
    push_per_s = measure_push(args.push, args.relays) if args.push else 0.0
    push_floor_per_s = measure_push_floor(args.push, args.relays) if args.push and args.floors else 0.0
    push_wire_per_s = measure_push_wire_floor(args.push, args.relays) if args.push and args.floors else 0.0
    floor = min(push_floor_per_s, push_wire_per_s)
    # Both parts on the same cores, one after the other: the most a push can reach on a
    # machine whose CPU they share, as here, whatever overlaps.
    both = 1 / (1 / push_floor_per_s + 1 / push_wire_per_s) if floor else 0.0
    mirror_s = measure_mirror(args.mirror) if args.mirror else 0.0
    mirror_floor_s = measure_mirror_floor(args.mirror, APPLIERS) if args.mirror and args.floors else 0.0
    _, p95 = measure_save_to_remote(args.samples, url) if args.samples else (0.0, 0.0)
    per_million = 1_000_000 / max(1, args.mirror)
    print(
        f"push_per_s={push_per_s:.0f} mirror_1m_s={mirror_s * per_million:.1f}"
        f" save_to_remote_p95_s={p95:.3f} push_db_alone_per_s={push_floor_per_s:.0f}"
        f" mirror_db_alone_1m_s={mirror_floor_s * per_million:.1f} push_n={args.push} relays={args.relays}"
        f" mirror_n={args.mirror} samples={args.samples} push_wire_alone_per_s={push_wire_per_s:.0f}"
        f" push_vs_lower_floor={push_per_s / floor if floor else 0:.2f}"
        f" push_vs_both_floors={push_per_s / both if both else 0:.2f}"
        f" mirror_vs_floor={mirror_s / mirror_floor_s if mirror_floor_s else 0:.2f}"
    )


if __name__ == "__main__":
    main()
