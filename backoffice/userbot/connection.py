"""One socket to Userbot: frames out in order, one reader thread matching answers in order.

The server answers every request exactly once and in order (wire contract, section 1): a
frame joins the queue of requests waiting and the wire atomically, and the reader hands
each answer to the oldest request still waiting. Frames are bounded by the length their
header declares, before their payload is read. Whenever the order can no longer be trusted
(a timeout, a malformed frame, a drop) the connection fails every request it carries as
possibly applied. ``client.UserbotClient`` opens, logs in and reopens these.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import websocket
from websocket import ABNF, frame_buffer

from backoffice.userbot.codec import ERROR_CHANNEL, ErrorBody, Event, Response, decode_server_frame
from backoffice.userbot.errors import (
    ConnectionLost,
    FrameTooLarge,
    NotSent,
    ProtocolError,
    RequestTimeout,
    TransportError,
)
from backoffice.userbot.redaction import Secret

logger = logging.getLogger(__name__)

Outcome = Response | TransportError
EventCallback = Callable[[Event], None]

_CONTROL_FRAME_MAX = 125  # RFC 6455, section 5.5
_DATA_OPCODES = (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT)


class Slot:
    """One request on its way: resolved once, with its answer or a transport error."""

    __slots__ = ("done", "operation", "outcome", "payload", "sent_at")

    def __init__(self, operation: str, payload: Any) -> None:
        self.operation = operation
        self.payload = payload
        self.outcome: Outcome | None = None
        self.sent_at: float | None = None
        self.done = threading.Event()

    def resolve(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.done.set()


class BoundedFrameBuffer(frame_buffer):
    """websocket-client's frame reader, refusing what is too large from the length in its header.

    The library reads a frame's whole payload before handing the frame over, so a limit
    checked on the frame would come after the memory is spent: this one is checked between
    the header and the payload, against the frame alone and against the fragments of one
    message added up.
    """

    def __init__(self, recv: Callable[[int], bytes], *, max_message_bytes: int) -> None:
        super().__init__(recv, skip_utf8_validation=True)
        self.max_message_bytes = max_message_bytes
        self._message_bytes = 0  # the fragments received so far of an unfinished message

    def recv_length(self) -> None:
        super().recv_length()
        assert self.header is not None and self.length is not None
        opcode = self.header[4]
        if opcode not in _DATA_OPCODES:
            if self.length > _CONTROL_FRAME_MAX:
                raise FrameTooLarge(
                    f"a control frame of {self.length} bytes from the server; at most {_CONTROL_FRAME_MAX}"
                )
            return
        declared = self.length + (self._message_bytes if opcode == ABNF.OPCODE_CONT else 0)
        if declared > self.max_message_bytes:
            raise FrameTooLarge(
                f"a message of {declared} bytes from the server is over the limit of "
                f"{self.max_message_bytes} bytes"
            )

    def recv_frame(self) -> ABNF:
        frame = super().recv_frame()
        if frame.opcode in _DATA_OPCODES:
            self._message_bytes = 0 if frame.fin else self._message_bytes + len(frame.data)
        return frame


class Connection:
    """One WebSocket session: the FIFO of unanswered requests, its reader and its heartbeat."""

    def __init__(
        self,
        ws: websocket.WebSocket,
        *,
        url: str,
        apikey: Secret,
        heartbeat: float,
        on_event: EventCallback,
    ) -> None:
        self._ws = ws
        self._url = url
        self._apikey = apikey  # masked in everything built from what the server says
        self._on_event = on_event
        self._pending: deque[Slot] = deque()
        self._state = threading.Lock()  # guards _pending and _broken
        self._send_order = threading.Lock()  # a frame joins _pending and the wire atomically
        self._broken: str | None = None
        self._closing = False  # our close frame is out: the server's reply is no loss
        self._stop = threading.Event()
        self._last_received = time.monotonic()
        self._ping_sent_at: float | None = None
        self._reader = threading.Thread(target=self._read, name="userbot-reader", daemon=True)
        self._reader.start()
        if heartbeat > 0:
            threading.Thread(
                target=self._beat, args=(heartbeat,), name="userbot-heartbeat", daemon=True
            ).start()

    @property
    def broken(self) -> bool:
        return self._broken is not None

    def send(self, operation: str, payload: Any, frame: str | Secret) -> Slot:
        """Put one frame on the wire behind every frame sent before it."""
        slot = Slot(operation, payload)
        with self._send_order:
            with self._state:
                if self._broken is not None:
                    slot.resolve(NotSent(f"{operation}: not sent, the connection was lost ({self._broken})"))
                    return slot
                self._pending.append(slot)
            slot.sent_at = time.monotonic()
            try:
                self._ws.send(frame.reveal() if isinstance(frame, Secret) else frame)
            except Exception as exc:
                # Part of the frame may have left: the slot is reported as possibly applied.
                self.fail(f"sending failed: {type(exc).__name__}: {exc}")
        return slot

    def wait(self, slot: Slot, timeout: float) -> Outcome:
        """The slot's outcome; past its deadline the connection is closed to keep the order."""
        if not slot.done.is_set():
            started = slot.sent_at if slot.sent_at is not None else time.monotonic()
            remaining = started + timeout - time.monotonic()
            if not slot.done.wait(max(remaining, 0.0)):
                self.fail(f"no answer to {slot.operation} within {timeout:g} s", timed_out=slot)
        assert slot.outcome is not None
        return slot.outcome

    def fail(
        self,
        reason: str,
        *,
        timed_out: Slot | None = None,
        too_large: bool = False,
        quiet: bool = False,
    ) -> None:
        """Break the connection: every unanswered request may or may not have been applied.

        ``too_large`` says the next frame was refused for its size: the oldest request, whose
        answer it most likely was, gets FrameTooLarge and the others ConnectionLost.
        """
        reason = self._apikey.mask(reason)
        with self._state:
            first = self._broken is None
            if first:
                self._broken = reason
            lost = list(self._pending)
            self._pending.clear()
        if first and not quiet:
            logger.warning("Userbot connection to %s lost: %s", self._url, reason)
        self._stop.set()
        self._ws.abort()
        for position, slot in enumerate(lost):
            if slot is timed_out:
                slot.resolve(RequestTimeout(f"{slot.operation}: {reason}; it may have been applied"))
            elif too_large and position == 0:
                slot.resolve(FrameTooLarge(f"{slot.operation}: {reason}; it may have been applied"))
            else:
                slot.resolve(
                    ConnectionLost(f"{slot.operation}: connection lost before the answer ({reason})")
                )

    def close(self) -> None:
        """Say goodbye to the server, then drop whatever is still unanswered."""
        with self._state:
            closing = self._broken is None
        self._closing = True
        if closing:
            try:
                self._ws.send_close()
            except Exception:  # noqa: S110 - the socket is going away either way
                pass
        self.fail("closed by the client", quiet=True)
        self._reader.join(timeout=2.0)

    def _read(self) -> None:
        ws = self._ws
        assembler = ws.cont_frame
        try:
            while True:
                frame = ws.recv_frame()
                self._last_received = time.monotonic()
                opcode = frame.opcode
                if opcode == ABNF.OPCODE_PING:
                    ws.pong(frame.data)
                    continue
                if opcode == ABNF.OPCODE_PONG:
                    continue
                if opcode == ABNF.OPCODE_CLOSE:
                    self.fail("the server closed the connection", quiet=self._closing)
                    return
                assembler.validate(frame)
                assembler.add(frame)
                if not frame.fin:
                    continue
                opcode, frame = assembler.extract(frame)
                self._receive(opcode, frame.data)
                if self._broken is not None:
                    return
        except FrameTooLarge as exc:
            self.fail(str(exc), too_large=True)
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}")
        finally:
            self._stop.set()
            ws.shutdown()

    def _receive(self, opcode: int, data: bytes) -> None:
        try:
            text: str | bytes = data.decode() if opcode == ABNF.OPCODE_TEXT else data
            message = decode_server_frame(text)
        except (ProtocolError, UnicodeDecodeError) as exc:
            # The reason only: a frame may hold personal data, and its length tells enough.
            reason = self._apikey.mask(str(exc))
            logger.warning("Malformed frame from Userbot (%d bytes): %s", len(data), reason)
            self.fail(f"malformed frame from the server: {reason}")
            return
        if isinstance(message, Event):
            self._on_event(message)
            return
        with self._state:
            slot = self._pending.popleft() if self._pending else None
        if slot is None:
            self.fail(f"an answer on {message.channel} to no request")
            return
        if message.channel != slot.operation and message.channel != ERROR_CHANNEL:
            channel = self._apikey.mask(message.channel)
            slot.resolve(ConnectionLost(f"{slot.operation}: answered on {channel}, order lost"))
            self.fail(f"answer on {channel} to a {slot.operation} request")
            return
        slot.resolve(masked(message, self._apikey))

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval / 4):
            now = time.monotonic()
            ping_sent_at = self._ping_sent_at
            if ping_sent_at is not None and self._last_received < ping_sent_at:
                if now - ping_sent_at >= interval:
                    self.fail(f"no frame from the server within {2 * interval:g} s")
                    return
            elif now - self._last_received >= interval:
                self._ping_sent_at = now
                try:
                    self._ws.ping()
                except Exception as exc:
                    self.fail(f"ping failed: {type(exc).__name__}: {exc}")
                    return


def masked(response: Response, apikey: Secret) -> Response:
    """The response with the API key masked in its error, which callers store and show."""
    error = response.error
    if error is None:
        return response
    return replace(
        response,
        error=ErrorBody(
            apikey.mask(error.code),
            apikey.mask(error.message),
            apikey.mask_all(error.fields),
            error.retry_after,
        ),
    )
