"""Synchronous client of Userbot's socket protocol, for Celery workers, commands and the admin.

The server answers every request exactly once and in order (wire contract, section 1), so
one connection (``connection.Connection``) carries many requests at once. Whenever that
order can no longer be trusted (a timeout, a malformed frame, a drop) the connection is
closed and every request it was carrying is reported as possibly applied; the client never
sends such a request again on its own, because only the caller knows whether that is safe.
It reconnects with a fresh handshake, restores subscriptions, and waits out a 429.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import websocket

from backoffice.userbot import schema
from backoffice.userbot.codec import (
    MAX_FRAME_BYTES,
    Event,
    Request,
    Response,
    encode_request,
)
from backoffice.userbot.connection import BoundedFrameBuffer, Connection, EventCallback, Outcome, Slot
from backoffice.userbot.errors import (
    ConnectFailed,
    Forbidden,
    PayloadInvalid,
    TransportError,
    Unauthenticated,
    UserbotError,
)
from backoffice.userbot.operations import SUBSCRIBE_TOPICS
from backoffice.userbot.redaction import Secret, remember

logger = logging.getLogger(__name__)


# A server asking for longer than this is waited for this long, then asked again.
RATE_LIMIT_WAIT_MAX_S = 60.0
_HANDSHAKE_OPERATIONS = ("apiLogin", "sitekey")


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the server said about us while logging in and choosing the bot."""

    user_id: str
    token_expires_at: str
    bot_name: str
    who: dict[str, Any]


class UserbotClient:
    """A connection to one bot on a Userbot server, reconnecting after drops."""

    def __init__(
        self,
        url: str,
        apikey: str,
        sitekey: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        heartbeat: float = 20.0,
        max_in_flight: int = 512,
        reconnect_attempts: int = 5,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        max_rate_limit_retries: int = 5,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        validate: bool = False,
    ) -> None:
        """``validate`` also checks every 200 payload received against the AsyncAPI document
        (for tests); what is sent is always checked, so a bad request fails here, named field
        by field, and never reaches Userbot. A frame or fragmented message from the server
        over ``max_frame_bytes`` is refused before it is read (FrameTooLarge) and the
        connection dropped; the next call connects again."""
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be at least 1")
        self._url = url
        self._apikey = Secret(apikey)
        remember(self._apikey)
        self._where = self._apikey.mask(url)  # the URL as messages show it
        self._sitekey = sitekey
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._heartbeat = heartbeat
        self._max_in_flight = max_in_flight
        self._reconnect_attempts = max(1, reconnect_attempts)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_rate_limit_retries = max(0, max_rate_limit_retries)
        self._max_frame_bytes = max_frame_bytes
        self._validate = validate
        self._connection: Connection | None = None
        self._connect_lock = threading.Lock()
        self._subscriptions: dict[str, list[EventCallback]] = {}
        self._subscriptions_lock = threading.Lock()
        self._handshake: Handshake | None = None
        self._reconnects = 0
        self._ever_connected = False
        self._closed = False

    def __repr__(self) -> str:
        connection = self._connection
        state = "connected" if connection is not None and not connection.broken else "disconnected"
        return f"<UserbotClient {self._where} sitekey={self._sitekey} {state}>"

    def __enter__(self) -> UserbotClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def reconnects(self) -> int:
        """How many times the client has connected again after losing a connection."""
        return self._reconnects

    @property
    def handshake(self) -> Handshake | None:
        return self._handshake

    @property
    def connected(self) -> bool:
        """Whether the connection is up now; a call, or ``connect``, makes a new one if not."""
        connection = self._connection
        return connection is not None and not connection.broken

    # --- connection -------------------------------------------------------------------

    def connect(self) -> Handshake:
        """Connect and log in once (no retry loop): a bad key or sitekey raises at once."""
        with self._connect_lock:
            self._closed = False
            connection = self._connection
            if connection is not None and not connection.broken and self._handshake is not None:
                return self._handshake
            self._open()
            assert self._handshake is not None
            return self._handshake

    def close(self) -> None:
        """Close the connection; requests still unanswered get ConnectionLost."""
        with self._connect_lock:
            self._closed = True
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _open(self) -> Connection:
        """A new connection with a fresh handshake and the subscriptions restored."""
        try:
            ws = websocket.create_connection(
                self._url,
                timeout=self._connect_timeout,
                enable_multithread=True,
                # str.decode validates UTF-8 at C speed; the library's check is pure Python.
                skip_utf8_validation=True,
            )
        except (websocket.WebSocketException, OSError) as exc:
            reason = self._apikey.mask(f"{type(exc).__name__}: {exc}")
            raise ConnectFailed(f"cannot connect to {self._where}: {reason}") from None
        # The reader blocks on the socket; liveness comes from the heartbeat and request timeouts.
        ws.settimeout(None)
        # Nothing has been read past the handshake yet, so the reader can still be swapped.
        ws.frame_buffer = BoundedFrameBuffer(ws.frame_buffer.recv, max_message_bytes=self._max_frame_bytes)
        connection = Connection(
            ws, url=self._where, apikey=self._apikey, heartbeat=self._heartbeat, on_event=self._dispatch
        )
        try:
            self._handshake = self._log_in(connection)
        except BaseException:
            connection.close()
            raise
        if self._ever_connected:
            self._reconnects += 1
            logger.info("Reconnected to Userbot at %s (bot %s)", self._where, self._sitekey)
        else:
            logger.info("Connected to Userbot at %s (bot %s)", self._where, self._sitekey)
        self._ever_connected = True
        self._connection = connection
        return connection

    def _log_in(self, connection: Connection) -> Handshake:
        with self._subscriptions_lock:
            topics = list(self._subscriptions)
        login = Secret(encode_request("apiLogin", {"apikey": self._apikey.reveal()}))
        requests: list[tuple[str, Any, str | Secret]] = [
            ("apiLogin", None, login),
            ("sitekey", None, encode_request("sitekey", {"sitekey": self._sitekey})),
            ("who", None, "who"),
            *(("subscribe", {"topic": t}, encode_request("subscribe", {"topic": t})) for t in topics),
        ]
        answers: list[Response | None] = [None] * len(requests)
        todo = list(range(len(requests)))
        for attempt in range(self._max_rate_limit_retries + 1):
            slots = [(i, connection.send(*requests[i])) for i in todo]
            for i, slot in slots:
                outcome = connection.wait(slot, self._connect_timeout)
                if isinstance(outcome, TransportError):
                    raise ConnectFailed(f"handshake with {self._where} failed: {outcome}")
                answers[i] = outcome
            # A 429 on who or subscribe is waited out here; on apiLogin or sitekey the
            # session is not set up, so the whole handshake is tried again.
            todo = [i for i in todo if i > 1 and _is_rate_limited(answers[i])]
            if not todo or attempt == self._max_rate_limit_retries:
                break
            self._wait_out_rate_limit([answers[i] for i in todo], attempt)  # type: ignore[misc]
        for answer in answers:
            assert answer is not None
            error = answer.exception()
            if error is not None:
                raise error
        login_answer, bot_answer, who_answer = (answer.payload for answer in answers[:3])  # type: ignore[union-attr]
        return Handshake(
            user_id=str(login_answer.get("user_id")),
            token_expires_at=str(login_answer.get("token_expires_at")),
            bot_name=str(bot_answer.get("bot_name")),
            who=dict(who_answer),
        )

    def _ensure_connection(self) -> Connection:
        connection = self._connection
        if connection is not None and not connection.broken:
            return connection
        with self._connect_lock:
            connection = self._connection
            if connection is not None and not connection.broken:
                return connection
            if self._closed:
                raise ConnectFailed("the client is closed")
            last_error: Exception | None = None
            for attempt in range(self._reconnect_attempts):
                if attempt or self._ever_connected:
                    # Full jitter, so that many workers dropped at once do not return at once.
                    time.sleep(random.uniform(0, min(self._backoff_max, self._backoff_base * 2**attempt)))
                try:
                    return self._open()
                except (Unauthenticated, Forbidden):
                    raise
                except (ConnectFailed, UserbotError) as exc:
                    last_error = exc
                    logger.info(
                        "Connecting to Userbot at %s failed (attempt %d): %s", self._where, attempt + 1, exc
                    )
            raise ConnectFailed(
                f"no connection to {self._where} after {self._reconnect_attempts} attempts: {last_error}"
            )

    # --- requests ---------------------------------------------------------------------

    def call(self, operation: str | Request, payload: Any = None, *, timeout: float | None = None) -> Any:
        """Send one request and return its 200 payload, or raise its typed error.

        A 429 is waited out and sent again (it changed nothing) up to max_rate_limit_retries
        times; any other failure is raised as is, never resent.
        """
        request = operation if isinstance(operation, Request) else Request(operation, payload)
        outcome = next(self.iter_many([request], timeout=timeout))
        if isinstance(outcome, TransportError):
            raise outcome
        return outcome.result()

    def iter_many(
        self, requests: Iterable[Request], *, window: int | None = None, timeout: float | None = None
    ) -> Iterator[Outcome]:
        """Pipeline requests and yield each outcome, in request order, as soon as it is known.

        Each outcome is the Response (any status) or the TransportError of that request:
        NotSent changed nothing, ConnectionLost or RequestTimeout may have been applied.
        Nothing is kept for the caller, so a bulk read handles and drops each page while
        later ones are still on the wire: memory stays flat in the number of pages. At most
        ``window`` (default max_in_flight) requests are unanswered at once. A 429 is waited
        out and sent again before anything after it is yielded. Once the connection fails,
        the rest come out as ConnectionLost (sent) or NotSent; the next call reconnects.
        """
        limit = self._timeout if timeout is None else timeout
        depth = max(1, window or self._max_in_flight)
        connection: Connection | None = None  # opened once the first request proves valid
        source = iter(requests)
        in_flight: deque[tuple[Request, Slot]] = deque()
        while True:
            while len(in_flight) < depth:
                request = next(source, None)
                if request is None:
                    break
                frame = self._frame(request.operation, request.payload)
                connection = connection or self._ensure_connection()
                in_flight.append((request, connection.send(request.operation, request.payload, frame)))
            if connection is None or not in_flight:
                return
            request, slot = in_flight.popleft()
            outcome = connection.wait(slot, limit)
            for attempt in range(self._max_rate_limit_retries):
                if not _is_rate_limited(outcome):
                    break
                self._wait_out_rate_limit([outcome], attempt)  # type: ignore[list-item]
                frame = self._frame(request.operation, request.payload)
                outcome = connection.wait(connection.send(request.operation, request.payload, frame), limit)
            if self._validate and isinstance(outcome, Response) and outcome.ok:
                self._check_response(request.operation, outcome.payload)
            yield outcome

    def _wait_out_rate_limit(self, answers: Sequence[Response], attempt: int) -> None:
        hints = [
            a.error.retry_after for a in answers if a.error is not None and a.error.retry_after is not None
        ]
        wait = max(hints) if hints else self._backoff_base * 2**attempt
        wait = min(max(wait, 0.0), RATE_LIMIT_WAIT_MAX_S)
        time.sleep(wait + random.uniform(0, 0.05 + wait * 0.1))

    def _frame(self, operation: str, payload: Any) -> str:
        if operation in _HANDSHAKE_OPERATIONS:
            raise PayloadInvalid(
                f"{operation} belongs to the handshake; use a client per bot", {"operation": "not allowed"}
            )
        schema.validate_request(operation, payload)
        return encode_request(operation, payload)

    def _check_response(self, operation: str, payload: Any) -> None:
        schema.validate_response(operation, payload)

    # --- events -----------------------------------------------------------------------

    def subscribe(self, topic: str, callback: EventCallback) -> None:
        """Call ``callback`` (on the reader thread, so keep it quick) for the topic's events.

        The subscription is restored on every reconnect; events sent while disconnected are
        lost, so whatever they stand for must still be read back (wire contract, section 3).
        """
        if topic not in SUBSCRIBE_TOPICS:
            raise PayloadInvalid(
                f"unknown topic {topic!r}", {"topic": f"one of {', '.join(SUBSCRIBE_TOPICS)}"}
            )
        # Connected first, so that the handshake does not send this subscription as well.
        self._ensure_connection()
        with self._subscriptions_lock:
            callbacks = self._subscriptions.setdefault(topic, [])
            first = not callbacks
            callbacks.append(callback)
        if not first:
            return
        try:
            self.call("subscribe", {"topic": topic})
        except BaseException:
            with self._subscriptions_lock:
                self._subscriptions[topic].remove(callback)
                if not self._subscriptions[topic]:
                    del self._subscriptions[topic]
            raise

    def _dispatch(self, event: Event) -> None:
        topic = event.event.partition(".")[0]
        with self._subscriptions_lock:
            callbacks = list(self._subscriptions.get(topic, ()))
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                logger.exception("A Userbot %s event callback failed", event.event)


def _is_rate_limited(outcome: Outcome | None) -> bool:
    return isinstance(outcome, Response) and outcome.status == 429
