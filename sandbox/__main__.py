"""``python -m sandbox``: serve the sandbox Userbot server until SIGINT or SIGTERM.

A program of its own, not a command of the back office: ``manage.py up`` (and so
``scripts/start``), the benchmarks and the tests start it as a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import signal
import time
from collections.abc import Sequence

from backoffice.env import env_list
from backoffice.runtime import tune_gc_for_bulk_work
from sandbox.seed import seed_chatusers
from sandbox.server import SandboxServer, build_store
from sandbox.store import SandboxStore
from sandbox.visitors import DEFAULT_EVERY_S

DESCRIPTION = (
    "Serve the sandbox Userbot server on ws://HOST:PORT/ until SIGINT or SIGTERM. Every --apikey, "
    "and every key in the comma-separated environment variable USERBOT_SANDBOX_APIKEYS, is an "
    "account (keys in the environment stay out of the process list), and every --sitekey a bot; "
    "any account may choose any bot. The fault options "
    "count the requests of each connection, all but apiLogin and sitekey (so a client can always "
    "log in again): --rate-limit-every N answers every Nth with 429 and does not apply it; "
    "--drop-every N applies every Nth and then drops the connection without a close frame and "
    "without answering it (when both fall on one request, the 429 wins). --latency-ms N sends "
    "each answer N ms after it is ready, like a network in between; answers keep their order "
    "and requests keep being applied meanwhile. --seed-chatusers N fills every --sitekey bot that "
    "has no chat users with N synthetic ones before listening (for benchmarks; a million takes "
    "seconds), so --seed-demo then leaves those bots alone; --seed-chatusers-for SITEKEY=N (repeatable) "
    "fills that bot with N first, which --seed-chatusers then leaves alone, for bots of different "
    "sizes in one sandbox. --visitors-every SECONDS has a "
    "visitor write in a live chat (or open one, or ask for a person) that often; it defaults to "
    f"{DEFAULT_EVERY_S:g} with --seed-demo and to 0 (no visitors) without."
)
COUNTS = ("port", "drop_every", "rate_limit_every", "latency_ms", "seed_chatusers")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--apikey",
        action="append",
        default=[],
        help="an account's key (repeatable); shown in the process list, unlike USERBOT_SANDBOX_APIKEYS",
    )
    parser.add_argument("--sitekey", action="append", required=True, help="a bot (repeatable)")
    parser.add_argument("--state", help="JSON file the state is loaded from and saved to (every ~2 s)")
    parser.add_argument("--seed-demo", action="store_true", help="demo data for bots without chat users")
    parser.add_argument("--drop-every", type=int, default=0, metavar="N")
    parser.add_argument("--rate-limit-every", type=int, default=0, metavar="N")
    parser.add_argument("--latency-ms", type=int, default=0, metavar="N")
    parser.add_argument("--seed-chatusers", type=int, default=0, metavar="N")
    parser.add_argument(
        "--seed-chatusers-for",
        action="append",
        default=[],
        metavar="SITEKEY=N",
        help="N synthetic chat users for this bot alone (repeatable), before --seed-chatusers",
    )
    parser.add_argument(
        "--visitors-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"live visitors' pace (default {DEFAULT_EVERY_S:g} with --seed-demo, else 0: none)",
    )
    return parser


def live_visitors_every(given: float | None, *, seed_demo: bool) -> float:
    """Seconds between live visitors' steps: ``given``, else every few seconds for a demo, else never (0)."""
    if given is None:
        return DEFAULT_EVERY_S if seed_demo else 0.0
    if not (math.isfinite(given) and given >= 0):
        raise ValueError("--visitors-every must be a number of seconds, 0 or more")
    return given


def seed_counts(given: Sequence[str], *, sitekeys: Sequence[str]) -> dict[str, int]:
    """How many chat users each ``--seed-chatusers-for SITEKEY=N`` asks for, by bot."""
    counts: dict[str, int] = {}
    for item in given:
        sitekey, separator, count = item.rpartition("=")
        if not separator or sitekey not in sitekeys or not count.isdigit():
            raise ValueError(f"--seed-chatusers-for takes SITEKEY=N for a --sitekey bot, not {item!r}")
        counts[sitekey] = int(count)
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments, load or build the store, seed it if asked, and serve."""
    cli = parser()
    options = cli.parse_args(argv)
    for name in COUNTS:
        if getattr(options, name) < 0:
            cli.error(f"--{name.replace('_', '-')} must not be negative")
    try:
        visitors_every = live_visitors_every(options.visitors_every, seed_demo=options.seed_demo)
    except ValueError as exc:
        cli.error(str(exc))
    try:
        seed_for = seed_counts(options.seed_chatusers_for, sitekeys=options.sitekey)
    except ValueError as exc:
        cli.error(str(exc))
    apikeys = [*options.apikey, *env_list("USERBOT_SANDBOX_APIKEYS", [])]
    if not apikeys:
        cli.error("no account: give --apikey or set USERBOT_SANDBOX_APIKEYS")
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    tune_gc_for_bulk_work()
    # Loading or seeding makes up to millions of objects that live as long as the process
    # and form no cycles: the cycle collector is kept out of it, and afterwards out of
    # their reach (frozen), so a full collection walks only what requests made since.
    gc.disable()
    store = build_store(apikeys=apikeys, sitekeys=options.sitekey, state_path=options.state)
    for sitekey, count in seed_for.items():
        _seed_chatusers(store, [sitekey], count)
    if options.seed_chatusers:
        _seed_chatusers(store, options.sitekey, options.seed_chatusers)
    gc.freeze()
    gc.enable()
    server = SandboxServer(
        store,
        state_path=options.state,
        seed_demo=options.seed_demo,
        drop_every=options.drop_every,
        rate_limit_every=options.rate_limit_every,
        latency_ms=options.latency_ms,
        visitors_every=visitors_every,
    )
    asyncio.run(_serve(server, options.host, options.port))


def _seed_chatusers(store: SandboxStore, sitekeys: list[str], count: int) -> None:
    for sitekey in dict.fromkeys(sitekeys):
        bot = store.bots[sitekey]
        if bot.chatusers:
            continue
        started = time.perf_counter()
        seed_chatusers(store, bot, count)
        print(
            f"Seeded {count} chat users into {sitekey} in {time.perf_counter() - started:.1f} s", flush=True
        )


async def _serve(server: SandboxServer, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound = await server.start(host, port)
    print(f"Sandbox Userbot listening on ws://{host}:{bound}/", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("Sandbox Userbot stopped.", flush=True)


if __name__ == "__main__":
    main()
