"""Start the sandbox Userbot server as its own process for a benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0
# A sandbox seeded with --seed-chatusers listens only once the chat users are made: allow
# for a slow machine doing it (a million take a few seconds on an idle one).
SEED_TIMEOUT_S_PER_MILLION = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sandbox_process(*, apikey: str, sitekey: str, extra: list[str] | None = None) -> Iterator[str]:
    """A sandbox on a free loopback port in a separate process; yields its URL once it listens.
    More bots (``--sitekey``) and their seeds (``--seed-chatusers-for``) may come in ``extra``."""
    port = free_port()
    extra = extra or []
    bots = 1 + extra.count("--sitekey")
    seeded = _seeded_chatusers(extra) * bots + sum(_seeded_for(extra).values())
    timeout = START_TIMEOUT_S + SEED_TIMEOUT_S_PER_MILLION * seeded / 1_000_000
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--apikey",
            apikey,
            "--sitekey",
            sitekey,
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("the sandbox exited before it listened") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the sandbox did not listen within {timeout:.0f} s") from None
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _seeded_chatusers(extra: list[str]) -> int:
    """How many chat users ``--seed-chatusers`` asks each bot for, if the arguments say."""
    for i, argument in enumerate(extra):
        if argument == "--seed-chatusers" and i + 1 < len(extra):
            return int(extra[i + 1])
        if argument.startswith("--seed-chatusers="):
            return int(argument.partition("=")[2])
    return 0


def _seeded_for(extra: list[str]) -> dict[str, int]:
    """How many chat users each ``--seed-chatusers-for SITEKEY=N`` of the arguments asks for."""
    given = [extra[i + 1] for i, argument in enumerate(extra[:-1]) if argument == "--seed-chatusers-for"]
    given += [a.partition("=")[2] for a in extra if a.startswith("--seed-chatusers-for=")]
    return {sitekey: int(count) for sitekey, _, count in (item.rpartition("=") for item in given)}
