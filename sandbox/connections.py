"""How the sandbox serves its WebSocket connections: each read in arrival order, its answers
written in that same order after the latency, and events fanned out to the subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from backoffice.userbot import codec
from sandbox.answers import Answer, error
from sandbox.session import Session

log = logging.getLogger(__name__)

_ABORT = object()


class ConnectionServer:
    """Serves each connection with two tasks: one reads and answers its requests in arrival
    order, the other writes each answer, in that order, no earlier than ``latency_s`` after it
    was ready. What a request's answer is, a subclass says (``answer``)."""

    latency_s: float

    def __init__(self) -> None:
        self.sessions: set[Session] = set()

    def answer(self, session: Session, frame: str | bytes) -> tuple[Answer, bool]:
        """The answer to one request frame, and whether the connection drops instead of sending it."""
        raise NotImplementedError

    def broadcast(self, sitekey: str, events: list[tuple[str, str, Any]]) -> None:
        """Send each ``(topic, event, payload)`` to the connections subscribed to its topic whose
        current bot is ``sitekey``."""
        # A create of a thousand chat users brings a thousand events: the connections that
        # listen are found once per topic, not once per event.
        listeners: dict[str, list[Session]] = {}
        for topic, event, payload in events:
            sessions = listeners.get(topic)
            if sessions is None:
                sessions = listeners[topic] = [
                    session
                    for session in self.sessions
                    if topic in session.topics and session.bot is not None and session.bot.sitekey == sitekey
                ]
            if sessions:
                frame = orjson.dumps({"event": event, "payload": payload})
                for session in sessions:
                    session.outbox.put_nowait((0.0, frame))

    def drop_connections(self) -> int:
        """Abort every connection now, as a network drop would: no close frame, and answers
        still waiting are lost. Call it on the server's loop; it returns how many it dropped."""
        sessions = list(self.sessions)
        for session in sessions:
            session.connection.transport.abort()
        return len(sessions)

    async def serve_connection(self, connection: ServerConnection) -> None:
        """Read and answer ``connection``'s requests until it closes, or drops on a fault."""
        session = Session(connection)
        self.sessions.add(session)
        writer = asyncio.create_task(self._write(session))
        loop = asyncio.get_running_loop()
        try:
            async for frame in connection:
                drop = False
                try:
                    answer, drop = self.answer(session, frame)
                except Exception:  # the answer itself failed: still one response, never a dead server
                    log.exception("sandbox request failed")
                    answer = error(codec.ERROR_CHANNEL, 500, "server_error", "the sandbox failed")
                if drop:
                    session.closing = True
                    session.outbox.put_nowait((0.0, _ABORT))
                else:
                    session.outbox.put_nowait((loop.time() + self.latency_s, answer.frame))
                if answer.events and answer.bot is not None:
                    self.broadcast(answer.bot.sitekey, answer.events)
                if drop:
                    break
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(session)
            if session.closing:
                with contextlib.suppress(Exception):
                    await writer
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    async def _write(self, session: Session) -> None:
        loop = asyncio.get_running_loop()
        connection = session.connection
        while True:
            due, frame = await session.outbox.get()
            if frame is _ABORT:
                connection.transport.abort()  # no close frame: the client sees a dropped connection
                return
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await connection.send(frame, text=True)
            except ConnectionClosed:
                return
