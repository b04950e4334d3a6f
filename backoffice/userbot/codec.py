"""Framing of Userbot's socket protocol (wire contract, sections 1 to 3).

Requests travel in two forms: command form (``apiLogin <key>``, ``robin sv 7 get 42`` ...)
and JSON form (``chatusers.get {"offset":0,"limit":10}``). Reading a request is split in
two steps because the contract orders its checks: which operation a frame names is read
first (400 ``unknown_channel``), its payload only after login and bot checks (400
``invalid``). Server frames are responses (``channel`` and ``status``) or events (``event``).
No error raised here ever quotes a frame, so an API key cannot leak through one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from backoffice.userbot.errors import (
    PayloadInvalid,
    ProtocolError,
    UnknownChannel,
    UserbotError,
    error_for_status,
)
from backoffice.userbot.operations import OPERATIONS

MAX_FRAME_BYTES = 10 * 1024 * 1024
ERROR_CHANNEL = "error"
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Request:
    """An operation and its payload (``None`` for operations that take none)."""

    operation: str
    payload: Any = None


@dataclass(frozen=True, slots=True)
class RawRequest:
    """A request frame whose operation is known and whose payload is not read yet."""

    operation: str
    body: str | None


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Response:
    channel: str
    status: int
    payload: Any = None
    error: ErrorBody | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def exception(self) -> UserbotError | None:
        """The typed error this response stands for, or None for a 200."""
        if self.ok:
            return None
        body = self.error or ErrorBody(code="server_error", message="no error body")
        return error_for_status(self.status)(
            channel=self.channel,
            status=self.status,
            code=body.code,
            message=body.message,
            fields=body.fields,
            retry_after=body.retry_after,
        )

    def result(self) -> Any:
        """The payload of a 200, or the typed error raised."""
        error = self.exception()
        if error is not None:
            raise error
        return self.payload


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    payload: Any


# --- requests ---------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _word(value: Any, what: str, *, dots_allowed: bool = True) -> str:
    text = str(value)
    if not text or " " in text or (not dots_allowed and "." in text):
        rule = "without spaces or dots" if not dots_allowed else "without spaces"
        raise PayloadInvalid(f"{what} must be a non-empty word {rule}", {what: "not a single word"})
    return text


def encode_request(operation: str, payload: Any = None) -> str:
    """The frame that sends ``operation`` with ``payload``, in the form the contract gives it."""
    op = OPERATIONS.get(operation)
    if op is None:
        raise UnknownChannel(f"unknown operation {operation!r}")
    if op.form == "json":
        if payload is None:
            if op.takes_payload:
                raise PayloadInvalid(f"{operation} needs a payload", {"payload": "required"})
            return operation
        return f"{operation} {_dumps(payload)}"
    p = payload or {}
    match operation:
        case "apiLogin":
            return f"apiLogin {_word(p.get('apikey', ''), 'apikey')}"
        case "sitekey":
            return f"sitekey undefined {_word(p.get('sitekey', ''), 'sitekey')}"
        case "who":
            return "who"
        case "subscribe":
            return f"subscribe {_word(p.get('topic', ''), 'topic')}"
        case "robin.sessions":
            user = _word(p.get("user_id", ""), "user_id")
            return f"robin sv {user} get sessions {int(p['limit'])} {int(p['offset'])}"
        case "robin.session":
            user = _word(p.get("user_id", ""), "user_id")
            return f"robin sv {user} get {_word(p.get('session_id', ''), 'session_id')}"
        case "say":
            wspath = _word(p.get("wspath", ""), "wspath", dots_allowed=False)
            session = _word(p.get("session_id", ""), "session_id", dots_allowed=False)
            return f"say.{wspath}.-100.{session}.{p.get('message', '')}"
    raise UnknownChannel(f"no command form for {operation!r}")  # pragma: no cover


def read_operation(frame: str | bytes) -> RawRequest:
    """Which operation a request frame names; raises UnknownChannel if none can be read."""
    if not isinstance(frame, str) or not frame:
        raise UnknownChannel("a request must be a non-empty text frame")
    if frame.startswith("say."):
        return RawRequest("say", frame[4:])
    name, space, rest = frame.partition(" ")
    body = rest if space else None
    if name == "robin":
        words = frame.split(" ")
        is_list = len(words) != 5 and len(words) >= 5 and words[4] == "sessions"
        return RawRequest("robin.sessions" if is_list else "robin.session", body)
    op = OPERATIONS.get(name)
    if op is None or (op.form == "command" and name not in ("apiLogin", "sitekey", "who", "subscribe")):
        raise UnknownChannel("no known operation in the frame")
    return RawRequest(name, body)


def channel_hint(frame: str | bytes) -> str:
    """The channel to answer an oversized frame on: its operation if readable, else ``error``."""
    if isinstance(frame, bytes):
        return ERROR_CHANNEL
    try:
        return read_operation(frame[:256]).operation
    except UnknownChannel:
        return ERROR_CHANNEL


def parse_payload(raw: RawRequest) -> Any:
    """The payload of a request frame; raises PayloadInvalid with ``fields`` when unreadable."""
    op = OPERATIONS[raw.operation]
    if op.form == "command":
        return _parse_command(raw)
    body = (raw.body or "").strip()
    if not body:
        if op.takes_payload:
            raise PayloadInvalid(f"{raw.operation} needs a JSON payload", {"payload": "required"})
        return None
    value = _loads(body)
    if not op.takes_payload:
        if value is None or value == {}:
            return None
        raise PayloadInvalid(f"{raw.operation} takes no payload", {"payload": "must be absent"})
    return value


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:  # orjson refuses integers past 64 bits, which are still JSON
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise PayloadInvalid("payload is not valid JSON", {"payload": f"invalid JSON: {exc}"}) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_command(raw: RawRequest) -> Any:
    body = raw.body
    match raw.operation:
        case "apiLogin":
            if not body or " " in body:
                raise PayloadInvalid("apiLogin takes one API key", {"apikey": "required, one word"})
            return {"apikey": body}
        case "sitekey":
            words = (body or "").split(" ")
            if len(words) != 2 or words[0] != "undefined" or not words[1]:
                raise PayloadInvalid(
                    "expected 'sitekey undefined <sitekey>'", {"sitekey": "required, one word"}
                )
            return {"sitekey": words[1]}
        case "who":
            if body:
                raise PayloadInvalid("who takes no words", {"payload": "must be absent"})
            return None
        case "subscribe":
            if not body or " " in body:
                raise PayloadInvalid("expected 'subscribe <topic>'", {"topic": "required, one word"})
            return {"topic": body}
        case "robin.sessions":
            words = (body or "").split(" ")
            if len(words) != 6 or words[0] != "sv" or words[2] != "get" or words[3] != "sessions":
                raise PayloadInvalid(
                    "expected 'robin sv <user.id> get sessions <limit> <offset>'",
                    {"frame": "malformed robin sessions command"},
                )
            return {"user_id": words[1], "limit": _int_word(words[4]), "offset": _int_word(words[5])}
        case "robin.session":
            words = (body or "").split(" ")
            if len(words) != 4 or words[0] != "sv" or words[2] != "get" or not words[3]:
                raise PayloadInvalid(
                    "expected 'robin sv <user.id> get <session.id>'",
                    {"frame": "malformed robin session command"},
                )
            return {"user_id": words[1], "session_id": words[3]}
        case "say":
            parts = (body or "").split(".", 3)
            if len(parts) != 4 or parts[1] != "-100":
                raise PayloadInvalid(
                    "expected 'say.<wspath>.-100.<session.id>.<message>'",
                    {"frame": "malformed say command"},
                )
            return {"wspath": parts[0], "session_id": parts[2], "message": parts[3]}
    raise UnknownChannel("no command form for this operation")  # pragma: no cover


def _int_word(word: str) -> int | str:
    # A word that is not a number stays text so that schema validation names the field.
    return int(word) if _DIGITS.fullmatch(word) and len(word) < 19 else word


def decode_request(frame: str | bytes) -> Request:
    """Both steps at once, for code that does not interleave the contract's checks."""
    raw = read_operation(frame)
    return Request(raw.operation, parse_payload(raw))


# --- responses and events ---------------------------------------------------------------


def encode_response(channel: str, payload: Any) -> str:
    return _dumps({"channel": channel, "status": 200, "payload": payload})


def encode_error(
    channel: str,
    status: int,
    code: str,
    message: str,
    *,
    fields: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> str:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    if retry_after is not None:
        error["retry_after"] = retry_after
    return _dumps({"channel": channel, "status": status, "error": error})


def encode_event(event: str, payload: Any) -> str:
    return _dumps({"event": event, "payload": payload})


def decode_server_frame(frame: str | bytes) -> Response | Event:
    """A response or an event; raises ProtocolError for anything the contract does not allow."""
    if not isinstance(frame, str):
        raise ProtocolError("server sent a binary frame; the protocol uses text frames")
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"server frame is not JSON ({exc.msg}, {len(frame)} characters)") from None
    if not isinstance(data, dict):
        raise ProtocolError("server frame is not a JSON object")
    if "event" in data:
        if "channel" in data or not isinstance(data["event"], str) or "payload" not in data:
            raise ProtocolError("event frame needs a string 'event' and a 'payload', and no 'channel'")
        return Event(data["event"], data["payload"])
    channel, status = data.get("channel"), data.get("status")
    if not isinstance(channel, str) or not isinstance(status, int) or isinstance(status, bool):
        raise ProtocolError("response frame needs a string 'channel' and an integer 'status'")
    if status == 200:
        if "payload" not in data:
            raise ProtocolError(f"{channel}: a 200 response without 'payload'")
        return Response(channel, 200, data["payload"])
    error = data.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        raise ProtocolError(f"{channel}: a {status} response without an error code")
    fields = error.get("fields") or {}
    retry_after = error.get("retry_after")
    bad_retry = retry_after is not None and (
        not isinstance(retry_after, int | float) or isinstance(retry_after, bool)
    )
    if not isinstance(fields, dict) or bad_retry:
        raise ProtocolError(f"{channel}: malformed error body")
    return Response(
        channel,
        status,
        None,
        ErrorBody(error["code"], str(error.get("message", "")), fields, retry_after),
    )
