"""The sandbox Userbot server: a real WebSocket peer that speaks the wire contract.

This module holds the server's settings, its lifecycle and persistence (the state file,
saved every few seconds once changed); ``connections`` serves each connection in order,
``dispatch`` answers one request, and the operation handlers live in the sibling modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, serve

from sandbox import demo, dispatch, visitors
from sandbox.answers import Answer
from sandbox.connections import ConnectionServer
from sandbox.session import Session
from sandbox.store import SandboxStore

log = logging.getLogger(__name__)

MAX_SOCKET_FRAME = 64 * 1024 * 1024  # above the contract's 10 MiB so an oversized frame gets its 413
SAVE_EVERY_S = 2.0


class SandboxServer(ConnectionServer):
    """The server around one ``SandboxStore``; ``start`` listens, ``stop`` saves and closes."""

    def __init__(
        self,
        store: SandboxStore,
        *,
        state_path: str | Path | None = None,
        seed_demo: bool = False,
        drop_every: int = 0,
        rate_limit_every: int = 0,
        latency_ms: int = 0,
        visitors_every: float = 0.0,
    ) -> None:
        super().__init__()
        self.store = store
        self.state_path = Path(state_path) if state_path else None
        self.seed_demo = seed_demo
        self.drop_every = drop_every
        self.rate_limit_every = rate_limit_every
        self.latency_s = latency_ms / 1000
        self.visitors_every = visitors_every
        self.dirty = False
        self.port = 0
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Seed demo data and set live visitors going (each if asked), listen, return the bound port."""
        if self.seed_demo:
            self._seed_demo()
        if self.visitors_every > 0:
            self._tasks.append(
                asyncio.create_task(
                    visitors.run_live_visitors(self.store, self.publish, interval_s=self.visitors_every)
                )
            )
        self._server = await serve(
            self.serve_connection, host, port, max_size=MAX_SOCKET_FRAME, compression=None
        )
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else port
        if self.state_path is not None:
            self._tasks.append(asyncio.create_task(self._save_periodically()))
        return self.port

    async def stop(self) -> None:
        """Stop the background tasks, close every connection, and save the state."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.save()

    def save(self) -> None:
        """Write the state file now if there is one to write."""
        if self.state_path is None:
            return
        self.dirty = False
        self.store.save(self.state_path)

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(SAVE_EVERY_S)
            if self.dirty:
                try:
                    self.save()
                except OSError:
                    log.exception("could not save the sandbox state")

    def _seed_demo(self) -> None:
        for bot in self.store.bots.values():
            if not bot.chatusers:
                demo.seed_demo(self.store, bot)
                self.dirty = True
        self.store.reindex()

    # --- requests and events -----------------------------------------------------------

    def answer(self, session: Session, frame: str | bytes) -> tuple[Answer, bool]:
        """The answer to one request frame, and whether the connection drops instead of sending it."""
        reply = dispatch.answer(
            self.store, session, frame, drop_every=self.drop_every, rate_limit_every=self.rate_limit_every
        )
        if reply.changed:
            self.dirty = True
        return reply.answer, reply.drop

    def publish(self, sitekey: str, topic: str, event: str, payload: Any) -> None:
        """Send an event to every connection subscribed to ``topic`` whose current bot is ``sitekey``."""
        self.dirty = True
        self.broadcast(sitekey, [(topic, event, payload)])


def build_store(
    *, apikeys: Sequence[str], sitekeys: Sequence[str], state_path: str | Path | None
) -> SandboxStore:
    """The store to serve: the saved state if the file exists, plus every account and bot asked for."""
    path = Path(state_path) if state_path else None
    store = SandboxStore.load(path) if path is not None and path.exists() else SandboxStore()
    for apikey in apikeys:
        store.add_account(apikey)
    for sitekey in sitekeys:
        store.add_bot(sitekey)
    return store
