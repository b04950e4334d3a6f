"""The web tier under many operators at once, on PostgreSQL with a million chat users.

Each topology runs as its own processes on loopback ports, in one run, against the same
database (the one in ``DATABASE_URL`` with ``_web_bench`` appended, made afresh unless
``--keep``), the same Redis and the same Celery worker (the Procfile's ``worker`` line) and
sandbox Userbot server:

- ``single Daphne``: the former ``web`` line, one ASGI process for pages and WebSockets;
- ``Procfile``: the ``web`` (and ``ws``) lines of the Procfile as they stand;
- the other candidate the README weighs against the Procfile's.

All three are started first; the scaling figures of all three are then taken back to
back (so that each meets the same load from whatever else the machine runs), and the
operator runs follow one topology after another. For each, two figures:

- scaling: the chat user list with a search (``?q=<surname>``), as fast as one client can
  ask for ``--scaling-seconds``, then as fast as eight clients at once can: pages per
  second, and eight over one;
- operators: ``--operators`` simulated operators for ``--seconds``, each going round the
  dashboard (admin index), the chat user list with a search and a channel filter, a chat
  user's page, a save of that page (a POST of its change form, a new name each time), and
  a segment's page with its count of matching chat users, pausing ``--think`` seconds
  (drawn uniformly) between pages as a person reading them does; with ``--sockets``
  WebSockets (import progress, authenticated) open beside them for the whole run and
  checked to be alive at its end. Page time is from sending the request to reading the
  whole response. After the run, the outbox must drain and every chat user saved must
  hold on the sandbox the name last saved for it, or it counts as an error.

The last line holds the Procfile topology's figures as ``key=value`` words.

    DATABASE_URL=postgres://user@127.0.0.1:5432/name REDIS_URL=redis://127.0.0.1:6379/8 \\
        python -m benchmarks.web [--users 1000000] [--keep] [--operators 50] [--sockets 200]
"""

from __future__ import annotations

import argparse
import asyncio
import html.parser
import http.client
import itertools
import os
import random
import secrets
import statistics
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect

from benchmarks._db import bench_database, setup_django
from benchmarks._sandbox import sandbox_process
from benchmarks._servers import (
    bench_environment,
    procfile_commands,
    procfile_web_commands,
    server_environment,
    shell_process,
    web_tier,
)
from benchmarks.admin import SURNAMES, load

APIKEY = "bench-key"
SITEKEY = "web-bench"
POOL_DOMAIN = "pool.example.com"
CHANGELIST = "/admin/chatusers/chatuser/"
SEARCH_CHANNELS = ("webchat", "whatsapp", "telegram", "messenger")
REQUEST_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 180.0
# The web line the Procfile had before: one Daphne process for everything.
SINGLE_DAPHNE = "daphne --bind 127.0.0.1 --port ${PORT} backoffice.asgi:application"
# The candidates the README weighs; the benchmark runs whichever the Procfile does not.
ASGI_WORKERS = {
    "web": "gunicorn --config gunicorn.conf.py --worker-class uvicorn_worker.UvicornWorker "
    "backoffice.asgi:application",
}
WSGI_AND_DAPHNE = {
    "web": "gunicorn --config gunicorn.conf.py backoffice.wsgi:application",
    "ws": "daphne --bind 127.0.0.1 --port ${PORT} backoffice.asgi:application",
}


@dataclass(frozen=True)
class Topology:
    label: str
    commands: Mapping[str, str]

    @property
    def sockets_type(self) -> str:
        """The process type that serves ``/ws/``: where the proxy sends WebSockets."""
        return "ws" if "ws" in self.commands else "web"


def topologies() -> list[Topology]:
    procfile = procfile_web_commands()
    other = WSGI_AND_DAPHNE if "uvicorn" in procfile["web"] else ASGI_WORKERS
    other_label = (
        "gunicorn sync + Daphne for /ws/" if other is WSGI_AND_DAPHNE else "gunicorn + uvicorn workers"
    )
    return [
        Topology("single Daphne (before)", {"web": SINGLE_DAPHNE}),
        Topology("Procfile", procfile),
        Topology(f"{other_label} (candidate)", other),
    ]


# --- the data -----------------------------------------------------------------------------


@dataclass
class World:
    bot_id: int
    sandbox_url: str
    pool: list[int]  # chat users on the sandbox too, each saved by at most one operator's save
    sessions: list[str]  # one logged-in session per operator
    job_id: int
    segment_id: int


def prepare(*, sandbox_url: str, users: int, operators: int, pool_size: int) -> World:
    """The bot on the sandbox, a million chat users, the pool of chat users that saves edit
    (created here and pushed, so the sandbox has them), the operators' sessions, an import
    for the WebSockets to follow, and a segment to count."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from backoffice.sync.models import OutboxEntry
    from backoffice.sync.pull import bot_sync
    from backoffice.sync.relay import push_pending
    from backoffice.userbot.models import Bot
    from chatusers import services
    from chatusers.import_models import ImportJob
    from chatusers.models import ChatUser, Segment

    bot = Bot.objects.filter(sitekey=SITEKEY).first() or Bot(name="Web bench", sitekey=SITEKEY)
    bot.server_url = sandbox_url
    bot.set_apikey(APIKEY)
    bot.save()
    bot_sync(bot)
    if not ChatUser.objects.filter(bot=bot).exists():
        seconds = load(users, bot.pk)
        print(f"loaded {users} chat users with tags and variables in {seconds:.0f} s", flush=True)

    # The sandbox is new each run: the pool is made again, and pushed to it.
    OutboxEntry.objects.filter(bot=bot).delete()
    ChatUser.objects.filter(bot=bot, email__endswith="@" + POOL_DOMAIN).delete()
    pool = ChatUser.objects.bulk_create(
        ChatUser(
            bot=bot, name="Pool", surname=f"Member{n}", email=f"pool{n}@{POOL_DOMAIN}", channel="webchat"
        )
        for n in range(pool_size)
    )
    OutboxEntry.objects.bulk_create(
        OutboxEntry(bot=bot, object_type="chatusers.chatuser", object_id=u.pk) for u in pool
    )
    operator_model = get_user_model()
    accounts = []
    for n in range(operators):
        account = operator_model.objects.filter(username=f"web-operator-{n}").first()
        if account is None:
            account = operator_model.objects.create_user(
                f"web-operator-{n}", is_staff=True, is_superuser=True, password=None
            )
        accounts.append(account)
    segment = Segment.objects.filter(bot=bot, name="Telegram in Italian").first()
    if segment is None:
        segment = services.segment_create(
            bot=bot,
            name="Telegram in Italian",
            match="all",
            filters=[
                {"field": "channel", "op": "eq", "value": "telegram", "name": ""},
                {"field": "language", "op": "eq", "value": "it", "name": ""},
            ],
            actor=accounts[0],
        )
    report = push_pending(bot)
    unsynced = ChatUser.objects.filter(pk__in=[u.pk for u in pool], sync__remote_id__isnull=True).count()
    if unsynced:
        raise SystemExit(f"the pool did not reach the sandbox: {report}")
    job = ImportJob.objects.filter(bot=bot).first() or ImportJob.objects.create(
        bot=bot,
        created_by=accounts[0],
        file="imports/web-bench.csv",
        original_name="web-bench.csv",
        status=ImportJob.Status.DONE,
        rows_total=0,
    )
    sessions = []
    for account in accounts:
        client = Client()
        client.force_login(account, backend="django.contrib.auth.backends.ModelBackend")
        sessions.append(client.cookies["sessionid"].value)
    return World(bot.pk, sandbox_url, [u.pk for u in pool], sessions, job.pk, segment.pk)


# --- one operator's browser ----------------------------------------------------------------


class Browser:
    """One operator's HTTP/1.1 connection with their session, kept alive where the server
    keeps it; a request on a kept-alive connection that the server closed meanwhile is
    sent again on a new one, as browsers do."""

    def __init__(self, port: int, session: str) -> None:
        self.port = port
        self.cookie = f"sessionid={session}; csrftoken={secrets.token_hex(16)}"
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": self.cookie}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S
                )
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class _FormFields(html.parser.HTMLParser):
    """What a browser would post from the form with ``form_id``: its named, enabled inputs,
    selects and text areas with their current values."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self._select is not None and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)


def form_fields(page: bytes, form_id: str) -> list[tuple[str, str]]:
    parser = _FormFields(form_id)
    parser.feed(page.decode())
    return parser.fields


# --- scaling: one client, then eight ------------------------------------------------------


def pages_per_second(port: int, sessions: list[str], clients: int, seconds: float) -> tuple[float, int]:
    """The chat user list with a search, asked for by ``clients`` at once as fast as each
    can for ``seconds``: pages per second, and how many requests failed."""
    done = [0] * clients
    failed = [0] * clients
    deadline = time.monotonic() + seconds

    def ask(n: int) -> None:
        browser = Browser(port, sessions[n % len(sessions)])
        for surname in itertools.cycle(SURNAMES[n:] + SURNAMES[:n]):
            if time.monotonic() >= deadline:
                break
            try:
                status, _ = browser.request("GET", f"{CHANGELIST}?{urlencode({'q': surname.lower()})}")
            except OSError:
                status = 0
            if status == 200:
                done[n] += 1
            else:
                failed[n] += 1
        browser.close()

    started = time.monotonic()
    threads = [threading.Thread(target=ask, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started), sum(failed)


# --- operators, with WebSockets open beside them ------------------------------------------


@dataclass
class OperatorRun:
    timings: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    saved: dict[int, str] = field(default_factory=dict)  # chat user -> the name last saved
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, step: str, ms: float) -> None:
        with self.lock:
            self.timings.setdefault(step, []).append(ms)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def run_operators(
    *,
    port: int,
    world: World,
    pool: list[int],
    tag: str,
    operators: int,
    seconds: float,
    think: tuple[float, float],
) -> OperatorRun:
    run = OperatorRun()
    next_chatuser = itertools.cycle(pool).__next__
    saves = itertools.count(1).__next__
    deadline = time.monotonic() + seconds

    def operate(n: int) -> None:
        rng = random.Random(n)
        browser = Browser(port, world.sessions[n])

        def step(name: str, method: str, path: str, expect: int, body: str | None = None) -> bytes | None:
            started = time.perf_counter()
            try:
                status, page = browser.request(method, path, body)
            except OSError as exc:
                run.error(f"{name} {path}: {exc!r}")
                return None
            run.record(name, (time.perf_counter() - started) * 1000)
            if status != expect:
                run.error(f"{name} {path}: {status}")
                return None
            return page

        time.sleep(rng.uniform(0, think[1]))  # operators do not all start in the same instant
        while True:
            for action in ("dashboard", "list", "page+save", "segment"):
                if time.monotonic() >= deadline:
                    browser.close()
                    return
                if action == "dashboard":
                    step("dashboard", "GET", "/admin/", 200)
                elif action == "list":
                    query = {"q": rng.choice(SURNAMES).lower(), "channel__exact": rng.choice(SEARCH_CHANNELS)}
                    step("list", "GET", f"{CHANGELIST}?{urlencode(query)}", 200)
                elif action == "segment":
                    step("segment", "GET", f"/admin/chatusers/segment/{world.segment_id}/change/", 200)
                else:
                    with run.lock:
                        chatuser, number = next_chatuser(), saves()
                    path = f"{CHANGELIST}{chatuser}/change/"
                    page = step("page", "GET", path, 200)
                    if page is None:
                        continue
                    time.sleep(rng.uniform(*think))
                    name = f"Saved {tag} {number}"
                    fields = [(k, name if k == "name" else v) for k, v in form_fields(page, "chatuser_form")]
                    if step("save", "POST", path, 302, urlencode([*fields, ("_save", "Save")])) is not None:
                        with run.lock:
                            run.saved[chatuser] = name
                time.sleep(rng.uniform(*think))

    threads = [threading.Thread(target=operate, args=(n,)) for n in range(operators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return run


class Sockets:
    """``count`` WebSockets following an import's progress, opened by the operators'
    sessions, held open in a thread of their own until ``close``, which checks that each
    still answers a ping. Failures are errors."""

    def __init__(self, *, port: int, sessions: list[str], job_id: int, count: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws/chatusers/imports/{job_id}/"
        self.origin = f"http://127.0.0.1:{port}"
        self.sessions, self.count = sessions, count
        self.errors: list[str] = []
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._hold()))

    def __enter__(self) -> Sockets:
        self._thread.start()
        self.opened.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    async def _open(self, n: int) -> ClientConnection | None:
        headers = {"Cookie": f"sessionid={self.sessions[n % len(self.sessions)]}", "Origin": self.origin}
        try:
            socket = await connect(self.url, additional_headers=headers, open_timeout=30)
            first = await asyncio.wait_for(socket.recv(), 30)
        except Exception as exc:  # every failure to open is one error, whatever it is
            self.errors.append(f"socket {n} did not open: {exc!r}")
            return None
        if '"status"' not in str(first):
            self.errors.append(f"socket {n}: unexpected first message {first!r}")
        return socket

    async def _hold(self) -> None:
        sockets: list[ClientConnection] = []
        for start in range(0, self.count, 20):
            opened = await asyncio.gather(*(self._open(n) for n in range(start, min(self.count, start + 20))))
            sockets.extend(s for s in opened if s is not None)
        self.opened.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.2)
        results = await asyncio.gather(*(self._alive(s) for s in sockets))
        self.errors.extend(f"socket {n} died during the run: {why}" for n, why in enumerate(results) if why)
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    @staticmethod
    async def _alive(socket: ClientConnection) -> str | None:
        """None if the socket answers a ping, else why not."""
        try:
            await asyncio.wait_for(await socket.ping(), 30)
        except Exception as exc:  # a socket that cannot answer a ping is dead, whatever the reason
            return f"{exc!r} (close code {socket.close_code}, {socket.close_reason!r})"
        return None


def saves_on_sandbox(world: World, saved: Mapping[int, str]) -> list[str]:
    """Waits for the outbox to drain, then compares each saved chat user's name on the
    sandbox with the name last saved; what is missing or different, as errors."""
    from backoffice.sync.models import OutboxEntry
    from backoffice.userbot import api
    from backoffice.userbot.client import UserbotClient
    from chatusers.models import ChatUser

    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    queued = OutboxEntry.objects.filter(bot_id=world.bot_id)
    while queued.exclude(state=OutboxEntry.State.DEAD).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    errors = [f"outbox: {e}, {e.last_error[:200]}" for e in queued]
    remote_ids = dict(ChatUser.objects.filter(pk__in=list(saved)).values_list("pk", "sync__remote_id"))
    names: dict[str, str] = {}
    with UserbotClient(world.sandbox_url, APIKEY, SITEKEY) as client:
        client.connect()
        total = client.call(api.chatusers_get(offset=0, limit=1))["total"]
        for offset in range(0, total, 1000):
            for item in client.call(api.chatusers_get(offset=offset, limit=1000))["chatusers"]:
                names[item["id"]] = item.get("name") or ""
    for pk, name in saved.items():
        if names.get(remote_ids.get(pk) or "") != name:
            errors.append(
                f"chat user {pk}: the sandbox has {names.get(remote_ids.get(pk) or '')!r}, not {name!r}"
            )
    return errors


# --- the run -----------------------------------------------------------------------------


@dataclass
class Figures:
    one: float = 0.0
    eight: float = 0.0
    scaling_errors: int = 0
    run: OperatorRun = field(default_factory=OperatorRun)
    socket_errors: list[str] = field(default_factory=list)
    save_errors: list[str] = field(default_factory=list)

    @property
    def scaling(self) -> float:
        return self.eight / self.one if self.one else 0.0

    @property
    def errors(self) -> int:
        return self.scaling_errors + len(self.run.errors) + len(self.socket_errors) + len(self.save_errors)

    @property
    def p95(self) -> float:
        return percentile([ms for timings in self.run.timings.values() for ms in timings], 95)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]
    )


def measure_scaling(figures: Figures, port: int, world: World, args: argparse.Namespace) -> None:
    one, failed_one = pages_per_second(port, world.sessions, 1, args.scaling_seconds)
    eight, failed_eight = pages_per_second(port, world.sessions, 8, args.scaling_seconds)
    figures.one, figures.eight, figures.scaling_errors = one, eight, failed_one + failed_eight
    print(f"  one client {one:.1f} pages/s, eight {eight:.1f} pages/s: {figures.scaling:.2f}x", flush=True)


def measure_operators(
    figures: Figures,
    topology: Topology,
    ports: Mapping[str, int],
    world: World,
    pool: list[int],
    args: argparse.Namespace,
) -> None:
    with Sockets(
        port=ports[topology.sockets_type], sessions=world.sessions, job_id=world.job_id, count=args.sockets
    ) as sockets:
        run = run_operators(
            port=ports["web"],
            world=world,
            pool=pool,
            tag=topology.label.split()[0],
            operators=args.operators,
            seconds=args.seconds,
            think=args.think,
        )
    figures.run, figures.socket_errors = run, sockets.errors
    figures.save_errors = saves_on_sandbox(world, run.saved)
    for step, timings in run.timings.items():
        print(
            f"  {step:<10} {len(timings):>5} pages  p50 {percentile(timings, 50):>7.0f} ms"
            f"  p95 {percentile(timings, 95):>7.0f} ms  max {max(timings):>7.0f} ms",
            flush=True,
        )
    print(
        f"  {len(run.saved)} saves, all on the sandbox: {not figures.save_errors}; "
        f"{args.sockets - len([e for e in sockets.errors if 'did not open' in e])} sockets open",
        flush=True,
    )
    for message in [*run.errors, *sockets.errors, *figures.save_errors][:10]:
        print(f"  error: {message}", flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _think(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded bench database if present")
    parser.add_argument("--operators", type=int, default=50)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--scaling-seconds", type=float, default=10.0)
    parser.add_argument("--think", type=_think, default=(1.0, 5.0), help="seconds between pages: LOW,HIGH")
    parser.add_argument("--pool", type=int, default=3000, help="chat users the saves edit")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("REDIS_URL must name a Redis database (the broker and the channel layer)")

    data_dir = bench_environment("web-bench-", WEB_BIND="127.0.0.1")
    setup_django(bench_database(os.environ.get("DATABASE_URL", ""), "_web_bench", fresh=not args.keep))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"machine: {os.cpu_count()} cores, load average {_load()}")
    print(
        f"operators: {args.operators} for {args.seconds:.0f} s, {args.think[0]:g} to {args.think[1]:g} s "
        f"between pages; {args.sockets} WebSockets beside them"
    )
    with sandbox_process(apikey=APIKEY, sitekey=SITEKEY) as sandbox_url:
        world = prepare(
            sandbox_url=sandbox_url, users=args.users, operators=args.operators, pool_size=args.pool
        )
        env = server_environment(os.environ)
        from django.db import connections

        connections.close_all()  # the servers' connections, not the benchmark's, for the run
        runs = topologies()
        pools = [world.pool[i :: len(runs)] for i in range(len(runs))]
        results = {topology.label: Figures() for topology in runs}
        log_path = os.path.join(data_dir, "servers.log")
        print(f"the servers' and the worker's output: {log_path}")
        with open(log_path, "ab") as output, ExitStack() as running:
            running.enter_context(shell_process(procfile_commands()["worker"], env, output=output))
            ports = {}
            for topology in runs:
                print(f"{topology.label}: {' | '.join(topology.commands.values())}", flush=True)
                ports[topology.label] = running.enter_context(web_tier(topology.commands, env, output=output))
                # Every worker has connected and loaded its templates before it is timed.
                pages_per_second(ports[topology.label]["web"], world.sessions, 8, 3.0)
            # Back to back, so that each topology meets the same load from the rest of the machine.
            for topology in runs:
                print(f"scaling, {topology.label}; load average {_load()}", flush=True)
                measure_scaling(results[topology.label], ports[topology.label]["web"], world, args)
            for topology, pool in zip(runs, pools, strict=True):
                print(f"operators, {topology.label}; load average {_load()}", flush=True)
                measure_operators(results[topology.label], topology, ports[topology.label], world, pool, args)
    print(f"load average after: {_load()}")
    print(f"{'topology':<44} {'1 client':>9} {'8 clients':>9} {'8 vs 1':>7} {'p95 ms':>7} {'errors':>6}")
    for label, figures in results.items():
        print(
            f"{label:<44} {figures.one:>9.1f} {figures.eight:>9.1f} {figures.scaling:>6.2f}x "
            f"{figures.p95:>7.0f} {figures.errors:>6}"
        )
    before, new = results[runs[0].label], results["Procfile"]
    print(f"scaling_8_vs_1_single_daphne={before.scaling:.2f}")
    print(f"scaling_8_vs_1={new.scaling:.2f} p95_ms_{args.operators}_users={new.p95:.0f} errors={new.errors}")


if __name__ == "__main__":
    main()
