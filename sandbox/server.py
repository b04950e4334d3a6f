"""The sandbox Userbot server: a real WebSocket peer that speaks the wire contract.

One asyncio task reads each connection and applies its requests in arrival order; a second
task per connection writes the answers in that same order, each no earlier than the
configured latency after it was ready: like a network in between, latency adds to the time
spent serving, and a pipelining client gains from sending ahead. The server owns sessions
(login, chosen bot, subscriptions), the contract's order of checks, fault injection, events
and persistence; operation handlers live in the sibling modules and register themselves
with ``registry.operation``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from backoffice.userbot import codec
from backoffice.userbot.errors import PayloadInvalid, UnknownChannel
from backoffice.userbot.operations import OPERATIONS, SUBSCRIBE_TOPICS
from sandbox import (  # noqa: F401  (the handler modules register their operations)
    chat,
    chatusers,
    chatusers_create,
    csv_import,
    demo,
    intel,
    knowledge,
    segments,
    stats,
    visitors,
)
from sandbox.registry import CHECKS_OWN_SCHEMA, HANDLERS, Context, SandboxError
from sandbox.store import Account, BotState, SandboxStore, iso_ms

try:
    from backoffice.userbot.schema import validate_request as _validate_request
except ImportError:  # the schema check is optional; handlers validate on their own too
    _validate_request = None

log = logging.getLogger(__name__)

Publish = Callable[[str, str, str, Any], None]
MAX_SOCKET_FRAME = 64 * 1024 * 1024  # above the contract's 10 MiB so an oversized frame gets its 413
RETRY_AFTER_S = 0.05
SAVE_EVERY_S = 2.0
TOKEN_LIFETIME_MS = 24 * 3600 * 1000
# Requests never counted by --drop-every and --rate-limit-every, so a client can always log in.
UNCOUNTED = frozenset({"apiLogin", "sitekey"})
# Operations that never change state, so answering them does not call for a save.
READ_ONLY = frozenset(
    {
        "apiLogin",
        "sitekey",
        "who",
        "subscribe",
        "bot.get-vars",
        "bot.stats",
        "chatusers.get",
        "chatusers.insights",
        "chatusers.get-feedback",
        "chatusers.get-bot-segments",
        "chatusers.get-bot-tags",
        "chatusers.get-vars",
        "robin.sessions",
        "robin.session",
        "qeafilter.search.page-db-ai",
        "automated-messages.get",
        "rawstats.count-nps",
        "rawstats.all",
        "rawstats.count-messages",
        "rawstats.count-sessions",
        "rawstats.get",
        "intel.leadlist",
        "intel.visitdetails",
        "intel.keypeople",
    }
)
_ABORT = object()


@dataclass(eq=False)
class Session:
    """One connection: who is logged in, which bot is chosen, what is subscribed."""

    connection: ServerConnection
    account: Account | None = None
    bot: BotState | None = None
    topics: set[str] = field(default_factory=set)
    counted: int = 0
    outbox: asyncio.Queue[tuple[float, Any]] = field(default_factory=asyncio.Queue)
    closing: bool = False


@dataclass
class Answer:
    """The response to one request and what follows it."""

    frame: bytes
    status: int = 200
    bot: BotState | None = None
    events: list[tuple[str, str, Any]] = field(default_factory=list)


def _error(channel: str, status: int, code: str, message: str, **extra: Any) -> Answer:
    error: dict[str, Any] = {"code": code, "message": message}
    error.update({k: v for k, v in extra.items() if v})
    return Answer(orjson.dumps({"channel": channel, "status": status, "error": error}), status)


def _ok(channel: str, payload: Any) -> bytes:
    return orjson.dumps({"channel": channel, "status": 200, "payload": payload})


def _frame_bytes(frame: str | bytes) -> int:
    if isinstance(frame, bytes):
        return len(frame)
    if len(frame) * 4 <= codec.MAX_FRAME_BYTES:  # no UTF-8 text of this length can be too large
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


class SandboxServer:
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
    ) -> None:
        self.store = store
        self.state_path = Path(state_path) if state_path else None
        self.seed_demo = seed_demo
        self.drop_every = drop_every
        self.rate_limit_every = rate_limit_every
        self.latency_s = latency_ms / 1000
        self.sessions: set[Session] = set()
        self.dirty = False
        self.port = 0
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Seed demo data if asked, listen, and return the bound port."""
        if self.seed_demo:
            self._seed_demo()
        self._server = await serve(self._connection, host, port, max_size=MAX_SOCKET_FRAME, compression=None)
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
        self._tasks.append(asyncio.create_task(visitors.run_live_visitors(self.store, self.publish)))

    # --- events --------------------------------------------------------------------------

    def publish(self, sitekey: str, topic: str, event: str, payload: Any) -> None:
        """Send an event to every connection subscribed to ``topic`` whose current bot is ``sitekey``."""
        self.dirty = True
        self._broadcast(sitekey, [(topic, event, payload)])

    def _broadcast(self, sitekey: str, events: list[tuple[str, str, Any]]) -> None:
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

    # --- connections ---------------------------------------------------------------------

    async def _connection(self, connection: ServerConnection) -> None:
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
                    answer = _error(codec.ERROR_CHANNEL, 500, "server_error", "the sandbox failed")
                if drop:
                    session.closing = True
                    session.outbox.put_nowait((0.0, _ABORT))
                else:
                    session.outbox.put_nowait((loop.time() + self.latency_s, answer.frame))
                if answer.events and answer.bot is not None:
                    self._broadcast(answer.bot.sitekey, answer.events)
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

    # --- one request ---------------------------------------------------------------------

    def answer(self, session: Session, frame: str | bytes) -> tuple[Answer, bool]:
        """The answer to one request frame, and whether the connection drops instead of sending it."""
        too_large = _frame_bytes(frame) > codec.MAX_FRAME_BYTES
        raw: codec.RawRequest | None = None
        if too_large:
            channel = codec.channel_hint(frame)
        else:
            try:
                raw = codec.read_operation(frame)
                channel = raw.operation
            except UnknownChannel:
                channel = codec.ERROR_CHANNEL
        limited = self._faulted(session, channel)
        if limited is not None:
            return limited, False
        if too_large:
            answer = _error(channel, 413, "too_large", "a frame is at most 10 MiB")
        elif raw is None:
            answer = _error(channel, 400, "unknown_channel", "no known operation can be read from the frame")
        else:
            answer = self._checked(session, raw)
            if answer.status == 200 and channel not in READ_ONLY:
                self.dirty = True
        return answer, self._drops(session, channel)

    def _faulted(self, session: Session, channel: str) -> Answer | None:
        """Count the request; a 429 answer when it is the rate limit's turn."""
        if channel in UNCOUNTED:
            return None
        session.counted += 1
        if self.rate_limit_every and session.counted % self.rate_limit_every == 0:
            return _error(
                channel, 429, "rate_limited", "too many requests; retry later", retry_after=RETRY_AFTER_S
            )
        return None

    def _drops(self, session: Session, channel: str) -> bool:
        """Whether this (counted, not rate-limited) request is the one the connection drops after."""
        if channel in UNCOUNTED or not self.drop_every:
            return False
        return session.counted % self.drop_every == 0

    def _checked(self, session: Session, raw: codec.RawRequest) -> Answer:
        channel = raw.operation
        op = OPERATIONS[channel]
        if session.account is None and channel != "apiLogin":
            return _error(channel, 401, "unauthenticated", "log in with apiLogin first")
        if op.bot_scoped and session.bot is None:
            return _error(channel, 403, "forbidden", "choose a bot with sitekey first")
        validate = _validate_request
        try:
            payload = codec.parse_payload(raw)
            if validate is not None and channel not in CHECKS_OWN_SCHEMA:
                validate(channel, payload)
        except PayloadInvalid as exc:
            return _error(channel, 400, "invalid", exc.message, fields=exc.fields)
        now_ms = int(time.time() * 1000)
        if channel in ("apiLogin", "sitekey", "who", "subscribe"):
            return self._session_operation(session, channel, payload, now_ms)
        handler = HANDLERS.get(channel)
        if handler is None:
            return _error(channel, 500, "server_error", f"the sandbox does not implement {channel}")
        assert session.account is not None
        ctx = Context(store=self.store, account=session.account, bot=session.bot, now_ms=now_ms)  # type: ignore[arg-type]
        if validate is not None and channel in CHECKS_OWN_SCHEMA:
            ctx.check_schema = lambda: validate(channel, payload)
        try:
            result = handler(ctx, payload)
        except PayloadInvalid as exc:  # the schema's verdict, asked for by the handler
            return _error(channel, 400, "invalid", exc.message, fields=exc.fields)
        except SandboxError as exc:
            return _error(channel, exc.status, exc.code, exc.message, fields=exc.fields)
        except Exception:
            log.exception("sandbox handler of %s failed", channel)
            return _error(channel, 500, "server_error", f"the sandbox failed to answer {channel}")
        return Answer(_ok(channel, result), 200, session.bot, ctx.events)

    def _session_operation(self, session: Session, channel: str, payload: Any, now_ms: int) -> Answer:
        if channel == "apiLogin":
            account = self.store.accounts.get(payload["apikey"])
            if account is None:
                return _error(channel, 401, "unauthenticated", "unknown API key")
            session.account, session.bot = account, None
            return Answer(
                _ok(
                    channel,
                    {
                        "user_id": account.user_id,
                        "token_expires_at": iso_ms(now_ms + TOKEN_LIFETIME_MS),
                    },
                )
            )
        if channel == "sitekey":
            bot = self.store.bots.get(payload["sitekey"])
            if bot is None:
                return _error(channel, 403, "forbidden", "this account holds no bot with that sitekey")
            session.bot = bot
            return Answer(_ok(channel, {"sitekey": bot.sitekey, "bot_name": bot.name}))
        if channel == "who":
            account = session.account
            assert account is not None
            return Answer(
                _ok(
                    channel,
                    {
                        "id": account.user_id,
                        "name": account.name,
                        "email": account.email,
                        "role": account.role,
                    },
                )
            )
        topic = payload["topic"]
        if topic not in SUBSCRIBE_TOPICS:
            return _error(
                channel,
                400,
                "invalid",
                f"topic must be one of {', '.join(SUBSCRIBE_TOPICS)}",
                fields={"topic": f"one of {', '.join(SUBSCRIBE_TOPICS)}"},
            )
        session.topics.add(topic)
        return Answer(_ok(channel, {"subscribed": topic}))


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
