"""Run the sandbox Userbot server in a background thread, for tests and tools in one process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from sandbox.server import SandboxServer, build_store
from sandbox.store import SandboxStore


class SandboxHandle:
    """A running sandbox: its ``url``, its live ``store``, and ``stop()`` (also on leaving a ``with``)."""

    def __init__(
        self, server: SandboxServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.server = server
        self.store: SandboxStore = server.store
        self.url = f"ws://127.0.0.1:{server.port}/"
        self._loop = loop
        self._thread = thread
        self._stop: asyncio.Event | None = None

    def stop(self) -> None:
        """Close every connection, save the state (with a state file) and end the thread."""
        if self._thread.is_alive() and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def start_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    apikeys: Sequence[str] = ("test-key",),
    sitekeys: Sequence[str] = ("test-bot",),
    state_path: str | Path | None = None,
    seed_demo: bool = False,
    drop_every: int = 0,
    rate_limit_every: int = 0,
    latency_ms: int = 0,
    server_class: type[SandboxServer] = SandboxServer,
) -> SandboxHandle:
    """Start a sandbox on ``host:port`` (0 picks a free port) and return once it listens;
    ``server_class`` may be a subclass of ``SandboxServer`` (a test peer's)."""
    store = build_store(apikeys=apikeys, sitekeys=sitekeys, state_path=state_path)
    server = server_class(
        store,
        state_path=state_path,
        seed_demo=seed_demo,
        drop_every=drop_every,
        rate_limit_every=rate_limit_every,
        latency_ms=latency_ms,
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, asyncio.Event] = {}

    async def main() -> None:
        holder["stop"] = asyncio.Event()
        try:
            await server.start(host, port)
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            await holder["stop"].wait()
        finally:
            await server.stop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="userbot-sandbox", daemon=True)
    thread.start()
    ready.wait(timeout=30)
    if failure:
        thread.join()
        raise failure[0]
    handle = SandboxHandle(server, loop, thread)
    handle._stop = holder["stop"]
    return handle
