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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sandbox_process(*, apikey: str, sitekey: str, extra: list[str] | None = None) -> Iterator[str]:
    """A sandbox on a free loopback port in a separate process; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "userbot_sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--apikey",
            apikey,
            "--sitekey",
            sitekey,
            *(extra or []),
        ],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)
