"""Live chat: from Userbot's ``chat.message`` to the message in an operator's page.

    .venv/bin/python -m benchmarks.live_chat [--seconds 30] [--rate 20] [--chats 50] [--probe]

It needs PostgreSQL and Redis for the production topology (``--database-url``, made
afresh each run, and ``--redis-url``), and Chromium (found on the PATH, else Playwright's).
Each topology runs in a child process of its own (``--topology``), since one process sets
Django up on one database; the parent prints the table and, last, the figures as words.

For each topology, as it runs for real:

- production: PostgreSQL, the Redis channel layer, and the Procfile's ``ws`` line (Daphne
  serving ``backoffice.asgi:application``);
- embedded: SQLite in a temporary directory, no ``REDIS_URL`` (the in-process channel
  layer), and Daphne as ``scripts/start`` (``manage.py up``) starts it.

Both run with ``DJANGO_ENV=embedded`` (plain HTTP on loopback) and two-factor off
(``DJANGO_TWO_FACTOR_REQUIRED=false``, also that environment's default), and Daphne serves
the pages too (in production gunicorn does: no page is asked for while the figures are
taken, unless a page has to read again, which is counted as ``reads``).

A sandbox Userbot server runs in this process with ``--chats`` chats open on one bot; a
staff user in the "chat agent" group watches the bot's inbox and one of the chats in
Chromium. Visitors write ``--rate`` messages a second in all, round-robin over the chats,
each text carrying a unique token. For ``--warmup`` seconds nothing is counted; then for
``--seconds``, each message's delay is taken from the sandbox sending its ``chat.message``
(the wall clock when ``publish`` is called) to the token being in the page's DOM (a
``MutationObserver`` reading ``performance.timeOrigin + performance.now()``: the same
machine, so the same clock; the offset measured between the two is printed). The headline
p50 and p95 are over both pages' sightings (the inbox sees every message, the chat page
one in ``--chats``). The delay is split where the page's script is handed the message (a
WebSocket listener added before the page's own); ``--probe`` adds a plain WebSocket client
beside the pages, the servers' part alone. The CPU time of the Daphne process (``/proc``,
all its threads) and of this run's Chromium over the window is divided by the messages
delivered; every message goes out on two sockets (three with ``--probe``).

Targets: production p95 at most 100 ms, embedded p95 at most 250 ms.

Findings, 7 December 2026, 2 cores, 50 chats, 20 messages/s, 600 messages in 30 s each,
none lost, no page read again, with other work on the machine (a browser test suite): load
average 3.0 to 4.3, of which this run's Daphne and Chromium take a fifth of a core.

| topology | p50 | p95 | max | Daphne CPU per message | Chromium CPU per message |
| --- | --- | --- | --- | --- | --- |
| production | 6.9 ms | 26.7 ms | 134 ms | 3.5 ms | 6.1 ms |
| embedded | 4.5 ms | 19.3 ms | 140 ms | 1.7 ms | 5.7 ms |

Both meet their targets. Other runs that day, at loads of 1.6 to 4.5, gave a p95 of 11.7
to 37.7 ms (production) and 5.6 to 18.4 ms (embedded), the higher with the higher load.

Where the time goes (``--probe``, load 2.1 to 3.4; production, then embedded, p50): from the
sandbox through Daphne's feed thread and the channel layer to a plain client, 4.4 and 2.4
ms; to the page's script, 0.3 and 0.5 ms more; the inbox rebuilding its table, 2.1 and 2.0
ms. Redis costs about 2 ms a message and doubles Daphne's CPU (3.2 to 3.9 ms a message
against 1.4 to 2.2, over all runs). The tail (p95 of 20 to 40 ms, a max of 100 to 220 ms
when the machine is loaded) lies before the page's script, and the plain client sees the
same stalls: the cores taken by other work, not the page.

The inbox rebuilds its whole table on every message: at 50 chats that takes 2 ms (p95 4 to
5 ms) and Chromium spends about 6 ms of CPU a message. It grows with the chats: at 200,
6 to 7 ms from socket to DOM, 12 to 14 ms of Chromium CPU a message, and the busy page is
handed its messages late (p95 at the page's socket 60 to 78 ms, against 12 to 42 ms at the
plain client), for an inbox p95 of 93 ms in production; at 500 chats (embedded) 13 ms,
24 ms of CPU, p95 144 ms. So the rendering is not the bottleneck at 50 chats, and the page
is left as it is; past about 200 open chats at this rate it is what would break the
production target, and updating only the changed row is the fix then.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, sync_playwright

from benchmarks import _page_clock, _procs
from benchmarks._db import bench_database, setup_django
from benchmarks._probe import Probe
from benchmarks._servers import free_port, procfile_commands, server_environment, shell_process
from sandbox.runner import SandboxHandle, start_sandbox
from sandbox.seed import seed_chatusers
from sandbox.server import SandboxServer

APIKEY = "live-chat-bench-key"
SITEKEY = "live-chat-bench"
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bo_bench_chat"
REDIS_URL = "redis://127.0.0.1:6379/8"
# How manage.py up (scripts/start) starts the web app on the embedded defaults.
EMBEDDED_WEB = "python -m daphne -b 127.0.0.1 -p ${PORT} backoffice.asgi:application"
TARGET_P95_MS = {"production": 100.0, "embedded": 250.0}
DRAIN_TIMEOUT_S = 15.0
PAGE_TIMEOUT_MS = 30_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = re.compile(_page_clock.TOKEN_PATTERN)


class TimedSandbox(SandboxServer):
    """The sandbox, noting when it puts each benchmark message's ``chat.message`` on the wire."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.emitted: dict[str, float] = {}  # token -> ms since the epoch

    def publish(self, sitekey: str, topic: str, event: str, payload: Any) -> None:
        at = time.time() * 1000
        super().publish(sitekey, topic, event, payload)
        if event == "chat.message" and (token := TOKEN.search(payload["message"]["text"])):
            self.emitted[token.group()] = at


class Visitors:
    """Visitors writing ``rate`` messages a second in all, round-robin over ``sessions``, on
    a thread of their own, each message on its time (not after the previous one's answer)."""

    def __init__(self, sandbox: SandboxHandle, sessions: list[str], rate: float) -> None:
        self.sandbox, self.sessions, self.rate = sandbox, sessions, rate
        self.chat_of: dict[str, int] = {}  # token -> the index of its chat in sessions
        self.stopping = threading.Event()
        self.failure: Exception | None = None
        self.thread = threading.Thread(target=self._write, name="visitors", daemon=True)

    def _write(self) -> None:
        started = time.monotonic()
        for n in itertools.count():
            delay = started + n / self.rate - time.monotonic()
            if self.stopping.wait(max(0.0, delay)):
                return
            token = f"LCB{n:07d}"
            chat = n % len(self.sessions)
            self.chat_of[token] = chat
            try:
                self.sandbox.visitor_says(SITEKEY, self.sessions[chat], f"Is my order on its way? {token}")
            except Exception as exc:  # whatever stopped the visitors stops the run, named
                self.failure = exc
                return

    def __enter__(self) -> Visitors:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
        if self.failure is not None:
            raise RuntimeError("the visitors stopped writing") from self.failure


# --- figures --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


@dataclass
class Delays:
    """Delays in ms of the messages a page should have shown, and how many it did not."""

    ms: list[float] = field(default_factory=list)
    missing: int = 0

    @property
    def p50(self) -> float:
        return percentile(self.ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.ms, 95)

    @property
    def worst(self) -> float:
        return max(self.ms, default=float("nan"))

    def summary(self) -> dict[str, float]:
        return {
            "n": len(self.ms),
            "p50": self.p50,
            "p95": self.p95,
            "max": self.worst,
            "missing": self.missing,
        }


def delays(emitted: Mapping[str, float], tokens: list[str], seen: Mapping[str, float]) -> Delays:
    found = Delays()
    for token in tokens:
        if token in seen:
            found.ms.append(seen[token] - emitted[token])
        else:
            found.missing += 1
    return found


# --- one topology ---------------------------------------------------------------------------


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _chromium() -> str | None:
    """The system's Chromium if it has one, else None (Playwright's own)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def prepare(sandbox: SandboxHandle, chats: int) -> tuple[int, str, list[str]]:
    """The bot on the sandbox with ``chats`` open chats, and a chat agent's logged-in session:
    the bot's id, the session key and the chats' ids."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from backoffice.userbot.services import bot_save

    bot_state = sandbox.store.bots[SITEKEY]
    people = seed_chatusers(sandbox.store, bot_state, chats)
    sessions = [sandbox.open_chat(SITEKEY, chatuser_id=person)["id"] for person in people]
    bot, _ = bot_save(name="Live chat bench", sitekey=SITEKEY, server_url=sandbox.url, apikey=APIKEY)
    agent = get_user_model().objects.create_user("live-chat-agent", password=None, is_staff=True)
    agent.groups.add(Group.objects.get(name="chat agent"))
    client = Client()
    client.force_login(agent, backend="django.contrib.auth.backends.ModelBackend")
    return bot.pk, client.cookies["sessionid"].value, sessions


@contextmanager
def web_process(topology: str, env: Mapping[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """The process serving WebSockets, as the topology runs it: its port and the Daphne pid."""
    command = procfile_commands()["ws"] if topology == "production" else EMBEDDED_WEB
    port = free_port()
    print(f"  web: {command}", flush=True)
    with (
        log.open("ab") as output,
        shell_process(command, {**env, "PORT": str(port)}, port=port, output=output) as pid,
    ):
        yield port, _procs.find_process(pid, "daphne")


def chromium_cpu_s() -> float:
    return sum(
        _procs.cpu_s(pid) for pid in _procs.descendants(os.getpid()) if "chrom" in _procs.command_line(pid)
    )


def run_topology(topology: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="live-chat-bench-"))
    os.environ.update(
        BACKOFFICE_DATA_DIR=str(data_dir),
        DJANGO_ENV="embedded",
        DJANGO_TWO_FACTOR_REQUIRED="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="WARNING",
        WEB_BIND="127.0.0.1",
    )
    if topology == "production":
        os.environ["REDIS_URL"] = args.redis_url
        database_url = bench_database(args.database_url, "")
    else:
        os.environ.pop("REDIS_URL", None)
        database_url = f"sqlite:///{data_dir / 'backoffice.sqlite3'}"
    setup_django(database_url, migrate=True)
    from django.db import connections

    with start_sandbox(apikeys=[APIKEY], sitekeys=[SITEKEY], server_class=TimedSandbox) as sandbox:
        server = sandbox.server
        assert isinstance(server, TimedSandbox)
        bot_id, session_key, sessions = prepare(sandbox, args.chats)
        connections.close_all()
        env = server_environment(os.environ)
        if topology == "embedded":
            env.pop("DATABASE_URL", None)  # the default: the SQLite file in the data directory
        with web_process(topology, env, data_dir / "web.log") as (port, daphne):
            figures = watch_and_measure(server, sandbox, port, daphne, bot_id, session_key, sessions, args)
    figures["topology"] = topology
    print(f"  the web process's output: {data_dir / 'web.log'}", flush=True)
    return figures


def open_pages(context: BrowserContext, base: str, bot_id: int, session_id: str) -> dict[str, Page]:
    """The bot's inbox and one chat's page, watched (``_page_clock``) and live."""
    pages = {"inbox": context.new_page(), "chat": context.new_page()}
    urls = {
        "inbox": f"{base}/admin/livechat/chataction/{bot_id}/",
        "chat": f"{base}/admin/livechat/chataction/{bot_id}/{session_id}/",
    }
    for name, page in pages.items():
        _page_clock.watch(page)
        page.goto(urls[name])
        page.wait_for_selector('[data-role="status"][data-state="live"]')
    return pages


def watch_and_measure(
    server: TimedSandbox,
    sandbox: SandboxHandle,
    port: int,
    daphne: int,
    bot_id: int,
    session_key: str,
    sessions: list[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    ws_url = f"ws://127.0.0.1:{port}/ws/chats/{bot_id}/"
    watched = 0  # the chat whose page is open: sessions[0]
    reads: list[str] = []  # the pages' reads again (inbox.json, chat.json) in the window
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.add_cookies([{"name": "sessionid", "value": session_key, "url": base}])
        pages = open_pages(context, base, bot_id, sessions[watched])
        inbox = pages["inbox"]
        probe = Probe(ws_url, base, session_key, _page_clock.TOKEN_PATTERN) if args.probe else None
        with probe if probe is not None else nullcontext():
            with Visitors(sandbox, sessions, args.rate) as visitors:
                inbox.wait_for_timeout(args.warmup * 1000)
                if not _page_clock.seen_in_dom(inbox, list(server.emitted)):
                    raise RuntimeError("no message of the warm-up reached the inbox")
                offset = _page_clock.clock_offset_ms(inbox)
                context.on(
                    "request", lambda request: reads.append(request.url) if ".json" in request.url else None
                )
                window = Window(
                    load_before=_load(), cpu_before=_procs.cpu_s(daphne), chromium_before=chromium_cpu_s()
                )
                inbox.wait_for_timeout(args.seconds * 1000)
                window.end = time.time() * 1000
            emitted = dict(server.emitted)
            tokens = sorted(t for t, at in emitted.items() if window.start <= at < window.end)
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while _page_clock.seen_in_dom(inbox, tokens) < len(tokens) and time.monotonic() < deadline:
                inbox.wait_for_timeout(100)
            window.cpu_used = _procs.cpu_s(daphne) - window.cpu_before
            window.chromium_used = chromium_cpu_s() - window.chromium_before
            window.load_after = _load()
        times = {name: _page_clock.read(page) for name, page in pages.items()}
        browser.close()
    chat_tokens = [t for t in tokens if visitors.chat_of[t] == watched]
    figures = figures_of(window, emitted, tokens, chat_tokens, times)
    if probe is not None:
        figures["probe_socket"] = delays(emitted, tokens, probe.arrived).summary()
    return figures | {"clock_offset_ms": offset, "reads_during_window": len(reads)}


@dataclass
class Window:
    """The measured window: when (ms since the epoch), the load, and the CPU used (s)."""

    load_before: str
    cpu_before: float
    chromium_before: float
    start: float = field(default_factory=lambda: time.time() * 1000)
    end: float = 0.0
    load_after: str = ""
    cpu_used: float = 0.0
    chromium_used: float = 0.0


def figures_of(
    window: Window,
    emitted: Mapping[str, float],
    tokens: list[str],
    chat_tokens: list[str],
    times: Mapping[str, _page_clock.PageTimes],
) -> dict[str, Any]:
    inbox, chat = times["inbox"], times["chat"]
    inbox_dom = delays(emitted, tokens, inbox.dom)
    chat_dom = delays(emitted, chat_tokens, chat.dom)
    in_page = Delays([inbox.dom[t] - inbox.socket[t] for t in tokens if t in inbox.dom and t in inbox.socket])
    delivered = len(inbox_dom.ms)
    seconds = (window.end - window.start) / 1000
    return {
        "load_before": window.load_before,
        "load_after": window.load_after,
        "window_s": seconds,
        "messages": len(tokens),
        "rate": len(tokens) / seconds,
        "delivered": delivered,
        "both": Delays(inbox_dom.ms + chat_dom.ms, inbox_dom.missing + chat_dom.missing).summary(),
        "inbox": inbox_dom.summary(),
        "chat": chat_dom.summary(),
        "inbox_socket": delays(emitted, tokens, inbox.socket).summary(),
        "inbox_socket_to_dom": in_page.summary(),
        "daphne_cpu_ms_per_message": window.cpu_used * 1000 / delivered if delivered else float("nan"),
        "chromium_cpu_ms_per_message": window.chromium_used * 1000 / delivered if delivered else float("nan"),
    }


# --- the run --------------------------------------------------------------------------------


def run_child(topology: str, args: argparse.Namespace) -> dict[str, Any]:
    """The topology measured in a process of its own; its figures."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as result:
        path = Path(result.name)
    command = [
        sys.executable, "-m", "benchmarks.live_chat", "--topology", topology, "--result", str(path),
        "--seconds", str(args.seconds), "--rate", str(args.rate), "--chats", str(args.chats),
        "--warmup", str(args.warmup), "--database-url", args.database_url, "--redis-url", args.redis_url,
        *(["--probe"] if args.probe else []),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    figures: dict[str, Any] = json.loads(path.read_text())
    path.unlink()
    return figures


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'topology':<11} {'page':<24} {'messages':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
        f"{'missing':>7}"
    )
    for figures in results:
        rows = [
            ("inbox: event to DOM", figures["inbox"]),
            ("chat: event to DOM", figures["chat"]),
            ("both pages", figures["both"]),
            ("inbox: event to socket", figures["inbox_socket"]),
            ("inbox: socket to DOM", figures["inbox_socket_to_dom"]),
        ]
        if "probe_socket" in figures:
            rows.append(("probe: event to socket", figures["probe_socket"]))
        for label, row in rows:
            print(
                f"{figures['topology']:<11} {label:<24} {row['n']:>8} {row['p50']:>7.1f} {row['p95']:>7.1f} "
                f"{row['max']:>7.1f} {row['missing']:>7}"
            )
    print()
    print(
        f"{'topology':<11} {'msg/s':>6} {'window s':>8} {'Daphne CPU ms/msg':>17} "
        f"{'Chromium CPU ms/msg':>19} {'reads':>5} {'clock offset ms':>15}  load average before / after"
    )
    for figures in results:
        print(
            f"{figures['topology']:<11} {figures['rate']:>6.1f} {figures['window_s']:>8.1f} "
            f"{figures['daphne_cpu_ms_per_message']:>17.2f} {figures['chromium_cpu_ms_per_message']:>19.2f} "
            f"{figures['reads_during_window']:>5} {figures['clock_offset_ms']:>15.2f}  "
            f"{figures['load_before']} / {figures['load_after']}"
        )
    for figures in results:
        target = TARGET_P95_MS[figures["topology"]]
        p95 = figures["both"]["p95"]
        verdict = "meets" if p95 <= target else "misses"
        print(f"{figures['topology']}: p95 {p95:.1f} ms {verdict} the target of {target:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured window")
    parser.add_argument("--rate", type=float, default=20.0, help="visitors' messages per second, in all")
    parser.add_argument("--chats", type=int, default=50, help="open chats on the bot")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of messages not counted, first")
    parser.add_argument(
        "--probe", action="store_true", help="a plain WebSocket client beside the pages: the servers' part"
    )
    parser.add_argument("--database-url", default=DATABASE_URL, help="production's database, made afresh")
    parser.add_argument("--redis-url", default=REDIS_URL, help="production's channel layer")
    parser.add_argument("--topology", choices=sorted(TARGET_P95_MS), help="measure only this one, here")
    parser.add_argument("--result", type=Path, help="with --topology: write its figures here as JSON")
    args = parser.parse_args()
    if args.topology:
        print(f"{args.topology}; machine: {os.cpu_count()} cores, load average {_load()}", flush=True)
        figures = run_topology(args.topology, args)
        if args.result:
            args.result.write_text(json.dumps(figures))
        else:
            print(json.dumps(figures, indent=2))
        return
    print(f"machine: {os.cpu_count()} cores, load average {_load()}", flush=True)
    results = [run_child(topology, args) for topology in ("production", "embedded")]
    print()
    print_table(results)
    production, embedded = results
    print(
        f"event_to_dom_p95_ms={production['both']['p95']:.1f} "
        f"event_to_dom_p50_ms={production['both']['p50']:.1f} "
        f"embedded_event_to_dom_p95_ms={embedded['both']['p95']:.1f} messages={production['messages']}"
    )


if __name__ == "__main__":
    main()
