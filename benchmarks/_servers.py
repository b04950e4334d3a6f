"""Start the project's server processes as the ``Procfile`` describes them, on loopback.

A ``Procfile`` line is a shell command (``name: command``), which process managers run
through a shell, so ``${PORT:-8000}`` and ``${DJANGO_ENV:-production}`` expand as they
would in production. The benchmark of the web tier and its tests start the web tier this
way, so what they measure and check is what is deployed.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
# The process types that serve browsers: HTTP pages and WebSockets.
WEB_TYPES = ("web", "ws")
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 30.0


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    """Each process type of the Procfile and its command, in the file's order."""
    commands: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, separator, command = line.partition(":")
        if not separator or not name.strip().isidentifier():
            raise ValueError(f"not a Procfile line: {line!r}")
        commands[name.strip()] = command.strip()
    return commands


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the process exited with status {process.returncode} before it listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s") from None
            time.sleep(0.1)


def bench_environment(prefix: str, **values: str) -> str:
    """A data folder of this run, and the configuration that the benchmark and every process
    it starts share: embedded (plain HTTP on loopback), a key of this run, warnings only, and
    ``values``. Returns the folder."""
    data_dir = tempfile.mkdtemp(prefix=prefix)
    os.environ.update(
        BACKOFFICE_DATA_DIR=data_dir,
        DJANGO_ENV="embedded",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="WARNING",
        **values,
    )
    return data_dir


def server_environment(base: Mapping[str, str], **values: str) -> dict[str, str]:
    """``base`` with ``values``, and this interpreter's ``bin`` first on the PATH, so that
    ``python``, ``gunicorn`` and ``daphne`` of a Procfile line are the virtualenv's."""
    bin_dir = str(Path(sys.executable).parent)
    return {**base, **values, "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', os.defpath)}"}


@contextmanager
def shell_process(
    command: str, env: Mapping[str, str], *, port: int | None = None, output: IO[bytes] | None = None
) -> Iterator[int]:
    """``command`` run by a shell in a process group of its own, stopped with SIGTERM (then
    SIGKILL) when the block ends; waits for ``port`` to listen first. Its output goes to
    ``output`` (else to this process's). Yields the pid."""
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=ROOT,
        env=dict(env),
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    try:
        if port is not None:
            wait_for_port(port, process)
        yield process.pid
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Whatever the leader left behind in its group (a worker it forked) goes with it.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def procfile_web_commands(path: Path = PROCFILE) -> dict[str, str]:
    """The Procfile's process types that serve browsers (``web``, and ``ws`` if it has one)."""
    commands = procfile_commands(path)
    if "web" not in commands:
        raise RuntimeError("the Procfile has no web process")
    return {name: command for name, command in commands.items() if name in WEB_TYPES}


@contextmanager
def web_tier(
    commands: Mapping[str, str], env: Mapping[str, str], *, output: IO[bytes] | None = None
) -> Iterator[dict[str, int]]:
    """Each process type of ``commands`` on a free loopback port given to it as ``PORT``;
    yields the port of each type once all of them listen, and stops them all after."""
    ports: dict[str, int] = {}
    with ExitStack() as stack:
        for name, command in commands.items():
            ports[name] = free_port()
            process_env = {**env, "PORT": str(ports[name])}
            stack.enter_context(shell_process(command, process_env, port=ports[name], output=output))
        yield ports
