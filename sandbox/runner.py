"""Run the sandbox Userbot server in a background thread, for tests and tools in one process.

The handle also lets a test act as a site's visitor (open a chat, write, ask for a person,
leave) and as a network that fails: each such call runs on the server's own event loop,
between requests, and sends subscribers the events a real visitor would cause.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from sandbox import visitors
from sandbox.live_chat import Event
from sandbox.server import SandboxServer, build_store
from sandbox.store import JSONDict, SandboxStore

T = TypeVar("T")
ON_LOOP_TIMEOUT_S = 30.0


class SandboxHandle:
    """A running sandbox: its ``url``, its live ``store``, and ``stop()`` (also on leaving a ``with``).

    The visitor's acts (``open_chat`` and the rest) raise ``SandboxError`` as the protocol
    would answer: 404 for an unknown bot, chat user or session, 400 for a closed session.
    """

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

    # --- a visitor's acts -------------------------------------------------------------------

    def open_chat(
        self, sitekey: str, *, chatuser_id: str | None = None, channel: str | None = None
    ) -> JSONDict:
        """Open a chat held by the bot for ``chatuser_id`` (else the newest chat user, else a new
        one) and return its session; subscribers get ``chat.session`` (and ``chatusers.changed``
        for a new chat user)."""
        act = functools.partial(
            visitors.open_chat, self.store, sitekey, chatuser_id=chatuser_id, channel=channel
        )
        return self._publishing(sitekey, act)

    def visitor_says(self, sitekey: str, session_id: str, text: str) -> JSONDict:
        """Add the visitor's message ``text`` to an open session and return it (``chat.message``)."""
        return self._publishing(
            sitekey, functools.partial(visitors.visitor_says, self.store, sitekey, session_id, text)
        )

    def ask_for_human(self, sitekey: str, session_id: str) -> JSONDict:
        """Hand a bot session over to wait for an agent (status ``agent``, ``agent_id`` null) and
        return it (``chat.session``); a session an agent holds stays as it is."""
        return self._publishing(
            sitekey, functools.partial(visitors.ask_for_human, self.store, sitekey, session_id)
        )

    def close_chat(self, sitekey: str, session_id: str) -> JSONDict:
        """Close the session as the visitor leaving would and return it (``chat.session``)."""
        return self._publishing(
            sitekey, functools.partial(visitors.close_chat, self.store, sitekey, session_id)
        )

    def delete_chat(self, sitekey: str, session_id: str) -> None:
        """Remove the session and its messages: later reads of it answer 404 (no event exists)."""
        self._publishing(sitekey, functools.partial(visitors.delete_chat, self.store, sitekey, session_id))

    # --- the network ----------------------------------------------------------------------

    def drop_connections(self) -> int:
        """Abort every client connection without a close frame, as a network drop would; how many."""
        return self._on_loop(self.server.drop_connections)

    def _publishing(self, sitekey: str, act: Callable[[], tuple[T, list[Event]]]) -> T:
        """Run ``act`` on the loop and send its events to the subscribers of ``sitekey``."""

        def run() -> T:
            answer, events = act()
            for topic, event, payload in events:
                self.server.publish(sitekey, topic, event, payload)
            return answer

        return self._on_loop(run)

    def _on_loop(self, call: Callable[[], T]) -> T:
        """``call()`` run on the server's event loop, between requests, and its result here."""

        async def run() -> T:
            return call()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=ON_LOOP_TIMEOUT_S)

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
    visitors_every: float = 0.0,
    server_class: type[SandboxServer] = SandboxServer,
) -> SandboxHandle:
    """Start a sandbox on ``host:port`` (0 picks a free port) and return once it listens.

    Live visitors write every ``visitors_every`` seconds (0, the default, keeps them away so a
    test sees only what it does); ``server_class`` may be a subclass of ``SandboxServer`` (a
    test peer's).
    """
    store = build_store(apikeys=apikeys, sitekeys=sitekeys, state_path=state_path)
    server = server_class(
        store,
        state_path=state_path,
        seed_demo=seed_demo,
        drop_every=drop_every,
        rate_limit_every=rate_limit_every,
        latency_ms=latency_ms,
        visitors_every=visitors_every,
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
