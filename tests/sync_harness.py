"""Real parts for the sync engine's fault tests.

Celery worker processes (``celery -A backoffice worker``) on the test database, a recording
WebSocket proxy between them and the sandbox, a sandbox reader that survives the faults the
sandbox injects, waiting for the outbox to drain, and a field-by-field comparison of the
chat users of both sides.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import redis
from django.conf import settings
from django.db.models import F
from websockets.asyncio.client import connect as async_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from backoffice.celery import app as celery_app
from backoffice.sync.models import OutboxEntry
from backoffice.userbot import codec
from backoffice.userbot.models import Bot
from chatusers.models import ChatUser, ChatUserTag, Variable

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("name", "surname", "email", "phone", "channel", "language")
OPEN = (OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT)


def real_parts_missing() -> str | None:
    """Why the fault tests cannot run here, or None when PostgreSQL and Redis are configured."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL (DATABASE_URL): worker processes share the test database"
    if not settings.REDIS_URL:
        return "needs Redis (REDIS_URL): the workers' broker"
    return None


def database_url_of_test_run() -> str:
    """The URL of the database this test run uses (pytest-django's ``test_`` copy)."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{quote(db['NAME'], safe='')}"


def reset_broker() -> None:
    """Empty the workers' queue, the tasks killed workers left unacknowledged (Redis would hand
    them out again) and the relay's wake-up keys; nothing else of the Redis database."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    queue = celery_app.conf.task_default_queue
    keys = [*client.scan_iter(f"{queue}*"), *client.scan_iter("*sync:push-queued:*")]
    client.delete("unacked", "unacked_index", "unacked_mutex", *keys)


def queued_tasks() -> int:
    """How many tasks wait in the workers' queue (not those a worker has taken)."""
    return redis.Redis.from_url(settings.REDIS_URL).llen(celery_app.conf.task_default_queue)


def enqueue(task: str, *args: Any) -> None:
    """Queue a task by name for the worker processes (never run eagerly in this process)."""
    celery_app.send_task(task, args=list(args))


# --- worker processes ----------------------------------------------------------------------


class Worker:
    """One ``celery -A backoffice worker`` process with one pool process, as deployed (prefork):
    the pool process runs the tasks, the main process hands them out and replaces a pool process
    that dies."""

    _numbers = itertools.count(1)

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.number = next(self._numbers)
        self.log_path = log_dir / f"worker-{self.number}.log"
        self._log = self.log_path.open("wb")
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "backoffice",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            "-n",
            f"sync-faults-{os.getpid()}-{self.number}@%h",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.pid = self.process.pid

    def __repr__(self) -> str:
        return f"<Worker {self.number} pid {self.pid}>"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def pool_pids(self) -> set[int]:
        """The process ids of the worker's pool processes (its children)."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            if int(fields[1]) == self.pid:
                children.add(int(stat.parent.name))
        return children

    def log(self) -> str:
        if not self._log.closed:  # a killed or stopped worker's log is whole already
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            if not self.alive:
                raise AssertionError(f"{self} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self} not ready after {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def kill_pool_process(self, pid: int) -> None:
        """SIGKILL one pool process, as the OOM killer would: the main process sees it die and
        starts another; the task it ran is given back to the queue (acks_late)."""
        assert pid in self.pool_pids(), f"{pid} is not a pool process of {self}"
        os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the whole worker, as a lost machine: no warm shutdown, no acknowledgement, a
        socket and a transaction cut off. The main process is stopped first so that it starts no
        pool process in between."""
        if self.alive:
            self.process.send_signal(signal.SIGSTOP)
            for pid in self.pool_pids():
                os.kill(pid, signal.SIGKILL)
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log.close()

    def results(self, task: str) -> list[str]:
        """What each run of ``task`` in this worker returned, in order, as its log shows it."""
        pattern = rf"Task {re.escape(task)}\[[^\]]+\] succeeded in [0-9.]+s: (.*)$"
        return [value[1:-1] for value in re.findall(pattern, self.log(), re.MULTILINE)]


class Workers:
    """The worker processes of one test, all pointed at the test database and Redis."""

    def __init__(self, log_dir: Path, **env: Any) -> None:
        self.log_dir = log_dir
        self.env = worker_env(**env)
        self.started: list[Worker] = []

    def start(self, *, ready: bool = True) -> Worker:
        worker = Worker(self.log_dir, self.env)
        self.started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    @property
    def alive(self) -> list[Worker]:
        return [w for w in self.started if w.alive]

    def holders(self, bot: Bot) -> dict[int, tuple[Worker, int]]:
        """The live pool processes holding claims of the bot: pid -> (its worker, entries)."""
        claims = claimed_by_pid(bot)
        found = {}
        for worker in self.alive:
            for pid in worker.pool_pids() & set(claims):
                found[pid] = (worker, claims[pid])
        return found

    def stop_all(self) -> None:
        for worker in self.alive:
            worker.process.terminate()  # all at once: each warm shutdown takes a moment
        for worker in self.started:
            worker.stop()

    def logs(self, tail: int = 2000) -> str:
        return "\n".join(f"--- {w} ---\n{w.log()[-tail:]}" for w in self.started)


def worker_env(**overrides: Any) -> dict[str, str]:
    """The environment of a worker: the test database, the test Redis database, and sync timings
    short enough that a killed worker's claims come back within the test."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url_of_test_run(),
            "REDIS_URL": settings.REDIS_URL,
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # the bots' API keys are encrypted with it
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "SYNC_WAKE_ON_COMMIT": "0",
            "SYNC_CLAIM_LEASE_S": "2",
            "SYNC_RETRY_BASE_S": "0.05",
            "SYNC_RETRY_MAX_S": "1",
            "USERBOT_REQUEST_TIMEOUT_S": "15",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def claimed_by_pid(bot: Bot) -> dict[int, int]:
    """In-flight entries of the bot per worker process id (the pid is part of ``claimed_by``)."""
    counts: dict[int, int] = defaultdict(int)
    for claimed_by in OutboxEntry.objects.filter(bot=bot, state=OutboxEntry.State.IN_FLIGHT).values_list(
        "claimed_by", flat=True
    ):
        parts = claimed_by.split(":")
        if len(parts) >= 3 and parts[-2].isdigit():
            counts[int(parts[-2])] += 1
    return dict(counts)


def open_entries(bot: Bot) -> int:
    return OutboxEntry.objects.filter(bot=bot, state__in=OPEN).count()


def drain(
    bot: Bot, workers: Workers, *, timeout: float = 60.0, task: str = "sync.push", every: float = 0.5
) -> None:
    """Queue ``task`` for the bot every ``every`` seconds (the sweep's job in production) until
    no entry of the bot is pending or in flight, then drop the runs still queued, so that none
    of them starts on what the test does next."""
    deadline = time.monotonic() + timeout
    while True:
        if not workers.alive:
            raise AssertionError(f"no worker is running:\n{workers.logs()}")
        if open_entries(bot) == 0:
            celery_app.control.purge()
            time.sleep(every)  # a run that started just before finds nothing and ends
            if open_entries(bot) == 0 and not queued_tasks():
                return
        if time.monotonic() > deadline:
            left = list(
                OutboxEntry.objects.filter(bot=bot, state__in=OPEN).values_list(
                    "state", "attempts", "last_error"
                )[:10]
            )
            raise AssertionError(
                f"{open_entries(bot)} entries still open after {timeout}s, e.g. {left}\n{workers.logs()}"
            )
        enqueue(task, bot.pk)
        time.sleep(every)


# --- the recording proxy -------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request frame a client sent through the proxy."""

    connection: int
    operation: str
    payload: Any


class RecordingProxy:
    """A WebSocket server on loopback that relays every connection to ``upstream`` frame by
    frame and records each request frame. A drop on one side is passed on as a drop (no close
    frame), so clients see the faults the upstream injects."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.sent: list[Sent] = []
        self.url = ""
        self._connections = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="recording-proxy", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    def start(self) -> RecordingProxy:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the recording proxy did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def requests(self, operation: str) -> list[Sent]:
        return [s for s in list(self.sent) if s.operation == operation]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._relay, "127.0.0.1", 0, max_size=None, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/"
            self._ready.set()
            await self._stop.wait()

    def _record(self, number: int, frame: str | bytes) -> None:
        try:
            raw = codec.read_operation(frame)
        except Exception:
            self.sent.append(Sent(number, "(unreadable)", None))
            return
        if raw.operation == "apiLogin":  # the API key stays out of the record
            self.sent.append(Sent(number, raw.operation, None))
            return
        try:
            payload = codec.parse_payload(raw)
        except Exception:
            payload = None
        self.sent.append(Sent(number, raw.operation, payload))

    async def _relay(self, downstream: ServerConnection) -> None:
        number = next(self._connections)
        try:
            upstream = await async_connect(
                self.upstream, max_size=None, compression=None, open_timeout=5, proxy=None
            )
        except (OSError, WebSocketException, TimeoutError):
            downstream.transport.abort()
            return

        async def requests() -> None:
            async for frame in downstream:
                self._record(number, frame)
                await upstream.send(frame)

        async def answers() -> None:
            async for frame in upstream:
                await downstream.send(frame)

        tasks = [asyncio.create_task(requests()), asyncio.create_task(answers())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, ConnectionClosed):
                pass
        downstream.transport.abort()
        upstream.transport.abort()


# --- reading the sandbox -------------------------------------------------------------------


class SandboxReader:
    """A bare WebSocket connection to the sandbox that rides out its injected faults: a 429 is
    waited out and a dropped connection is opened again, and the request sent again. Use it for
    reads and for requests that are safe to repeat."""

    def __init__(self, url: str, apikey: str, sitekey: str) -> None:
        self.url, self.apikey, self.sitekey = url, apikey, sitekey
        self.connection: ClientConnection | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _exchange(self, frame: str) -> dict[str, Any]:
        assert self.connection is not None
        self.connection.send(frame)
        while True:
            message = orjson.loads(self.connection.recv(timeout=15))
            if "event" not in message:
                return message

    def _open(self) -> None:
        self.close()
        self.connection = connect(
            self.url, max_size=None, compression=None, open_timeout=5, proxy=None, legacy=True
        )
        for frame in (f"apiLogin {self.apikey}", f"sitekey undefined {self.sitekey}"):
            answer = self._exchange(frame)
            assert answer.get("status") == 200, answer["channel"]

    def ok(self, channel: str, payload: Any = None) -> Any:
        """The 200 payload of a JSON-form request."""
        frame = channel if payload is None else f"{channel} {orjson.dumps(payload).decode()}"
        for _ in range(100):
            try:
                if self.connection is None:
                    self._open()
                answer = self._exchange(frame)
            except (ConnectionClosed, OSError, TimeoutError):
                self.connection = None
                time.sleep(0.02)
                continue
            if answer.get("status") == 429:
                time.sleep(answer["error"].get("retry_after") or 0.05)
                continue
            assert answer.get("status") == 200, answer
            return answer["payload"]
        raise AssertionError(f"{channel}: no answer after 100 attempts")

    def chatusers(self) -> list[dict[str, Any]]:
        """Every chat user of the bot, page by page (nothing changes it meanwhile)."""
        users: list[dict[str, Any]] = []
        while True:
            page = self.ok("chatusers.get", {"offset": len(users), "limit": 1000})["chatusers"]
            users.extend(page)
            if len(page) < 1000:
                return users

    def tag_names(self) -> dict[str, str]:
        return {t["id"]: t["name"].lower() for t in self.ok("chatusers.get-bot-tags")["tags"]}


# --- comparing both sides ------------------------------------------------------------------


def _doc(fields: dict[str, Any], tags: Iterable[str], variables: dict[str, str]) -> dict[str, Any]:
    doc = {field: fields.get(field) for field in FIELDS}
    doc["name"], doc["surname"] = doc["name"] or "", doc["surname"] or ""
    doc["language"] = doc["language"] or ""
    doc["email"], doc["phone"] = doc["email"] or None, doc["phone"] or None
    doc["tags"] = sorted(t.lower() for t in tags)
    doc["variables"] = dict(sorted(variables.items()))
    return doc


def local_chatusers(bot: Bot) -> dict[int, dict[str, Any]]:
    """Each local chat user of the bot by pk: its document plus ``remote_id``, ``client_ref``
    and ``sync_state``; read here with plain queries, not through the engine's own code."""
    tags: dict[int, list[str]] = defaultdict(list)
    for pk, name in ChatUserTag.objects.filter(chatuser__bot=bot).values_list("chatuser_id", "tag__name"):
        tags[pk].append(name)
    variables: dict[int, dict[str, str]] = defaultdict(dict)
    for pk, name, value in Variable.objects.filter(chatuser__bot=bot).values_list(
        "chatuser_id", "name", "value"
    ):
        variables[pk][name] = value
    users = {}
    for row in ChatUser.objects.filter(bot=bot).values(
        "pk", "client_ref", *FIELDS, remote_id=F("sync__remote_id"), sync_state=F("sync__sync_state")
    ):
        doc = _doc(row, tags.get(row["pk"], ()), variables.get(row["pk"], {}))
        users[row["pk"]] = {
            **doc,
            "remote_id": row["remote_id"],
            "client_ref": row["client_ref"],
            "sync_state": row["sync_state"],
        }
    return users


def remote_chatusers(reader: SandboxReader) -> dict[str, dict[str, Any]]:
    """Each sandbox chat user by id: its document plus ``client_ref``."""
    names = reader.tag_names()
    users: dict[str, dict[str, Any]] = {}
    for user in reader.chatusers():
        assert user["id"] not in users, f"the sandbox listed {user['id']} twice"
        doc = _doc(user, (names[t] for t in user["tags"]), {v["name"]: v["value"] for v in user["variables"]})
        users[user["id"]] = {**doc, "client_ref": user["client_ref"]}
    return users


def differences(bot: Bot, reader: SandboxReader) -> list[str]:
    """Every way the bot's chat users here and on the sandbox differ, one line each, sorted.

    A local chat user matches the sandbox chat user of its remote id, which must carry the
    same client_ref (or none, for one first made on Userbot without one) and the same fields,
    tags and variables, and the local one must be flagged synced. A sandbox chat user no local
    one points at is extra; a client_ref held by a local chat user without a remote id found on
    the sandbox means the answer of its create never came home.
    """
    local = local_chatusers(bot)
    remote = remote_chatusers(reader)
    by_ref = {user["client_ref"]: rid for rid, user in remote.items() if user["client_ref"]}
    lines = []
    matched: set[str] = set()
    for pk, mine in local.items():
        rid = mine["remote_id"]
        if rid is None:
            where = (
                f" (the sandbox holds it as {by_ref[mine['client_ref']]})"
                if mine["client_ref"] in by_ref
                else ""
            )
            lines.append(f"local #{pk} has no remote id{where}")
            continue
        theirs = remote.get(rid)
        if theirs is None:
            lines.append(f"local #{pk}: its remote {rid} is not on the sandbox")
            continue
        matched.add(rid)
        if theirs["client_ref"] not in (mine["client_ref"], None):
            lines.append(
                f"local #{pk}: client_ref {mine['client_ref']} but {theirs['client_ref']} on the sandbox"
            )
        for key in (*FIELDS, "tags", "variables"):
            if mine[key] != theirs[key]:
                lines.append(f"local #{pk} {key}: {mine[key]!r} here, {theirs[key]!r} on the sandbox")
        if mine["sync_state"] != "synced":
            lines.append(f"local #{pk} is {mine['sync_state']}, not synced")
    for rid in sorted(set(remote) - matched):
        lines.append(f"sandbox {rid} ({remote[rid]['client_ref']}) has no local chat user")
    return sorted(lines)


def left_in_outbox(bot: Bot) -> list[tuple[str, int, str]]:
    """(state, object id, last error) of every outbox entry of the bot, by object id."""
    return sorted(
        OutboxEntry.objects.filter(bot=bot).values_list("state", "object_id", "last_error"),
        key=lambda entry: entry[1],
    )
