"""The project's ASGI app under Daphne, for browser tests that need WebSockets.

pytest-django's ``live_server`` speaks WSGI only. Here ``daphne`` runs as a process of its
own, as it is deployed, on the test database: it reads its settings from the environment,
so the channel layer is the one ``backoffice/settings.py`` picks from it (Redis with
``REDIS_URL``, the in-process layer without), and its live chat feeds, leases and event
loop are its own, apart from the test's. The test binds the listening socket and hands it
over (``--fd``), so there is no window in which another program can take the port, and a
browser's first connection waits in the socket's backlog until Daphne is ready.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.sync_harness import database_url_of_test_run

ROOT = Path(__file__).resolve().parent.parent.parent
READY_TIMEOUT_S = 30.0


@dataclass
class Daphne:
    """A running Daphne process: its base ``url`` and its ``log`` so far."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(*, redis: bool) -> dict[str, str]:
    """This run's environment for Daphne: the test database, Redis or not, the same secret
    key (sessions and the bots' encrypted keys) and the production door (two factors)."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DJANGO_ENV")}
    env.update(
        {
            "DATABASE_URL": database_url_of_test_run(),
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "DJANGO_TWO_FACTOR_REQUIRED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis:
        env["REDIS_URL"] = settings.REDIS_URL
    return env


@contextmanager
def daphne(log_path: Path, *, redis: bool) -> Iterator[Daphne]:
    """Daphne serving ``backoffice.asgi:application`` on a loopback port until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(fd), "backoffice.asgi:application"],
            cwd=ROOT,
            env=server_env(redis=redis),
            pass_fds=(fd,),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener.close()  # Daphne holds its own copy
    server = Daphne(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(server: Daphne) -> None:
    """Until ``/health/`` answers 200 (the app is loaded and reaches the database)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"Daphne exited with {server.process.returncode}:\n{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/health/", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"Daphne not ready after {READY_TIMEOUT_S}s:\n{server.log()[-3000:]}")
        time.sleep(0.05)
