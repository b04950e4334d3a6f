"""A hostile Userbot for tests: the sandbox server, with answers a test tampers with per channel.

The sandbox serves every request as usual (a write is applied); then, if a test set a hook
on the answer's channel, the hook decides what goes back instead:

- a hook takes the decoded answer frame (``{"channel", "status", "payload"}``, or
  ``{"channel", "status", "error"}``) and returns the frame to send, changed or new:
  a malformed payload, created objects shuffled or repeated, an oversized string, a date
  that does not exist, a 500;
- or it returns ``DROP``: the connection closes without a close frame and without the
  answer (the client sees a lost connection; the request may have been applied);
- or ``Stall(seconds)``: the answer, and every answer behind it on that connection, goes
  out that much later, as from a server that hangs: the client's request timeout fires.

A hook is set with ``server.tamper(channel, hook, times=None)`` (``times`` answers, or every
one) and removed with ``server.calm()``. ``on_items`` and ``refuse`` build the usual hooks.
``start_hostile`` starts one the way ``start_sandbox`` starts a sandbox and returns the
same handle (``url``, ``store``, ``server``, ``stop``).

    with start_hostile() as userbot:
        userbot.server.tamper("chatusers.get-bot-segments", refuse(500))
        ...
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.answers import Answer
from sandbox.runner import SandboxHandle, start_sandbox
from sandbox.server import SandboxServer
from sandbox.session import Session

Frame = dict[str, Any]


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


@dataclass(frozen=True)
class Stall:
    """Send the answer this many seconds late (and everything after it on the connection)."""

    seconds: float


Hook = Callable[[Frame], "Frame | _Drop | Stall"]

ERROR_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    413: "too_large",
    429: "rate_limited",
    500: "server_error",
}


class HostileServer(SandboxServer):
    """The sandbox server, whose answers per channel go through the hooks tests set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._hooks: dict[str, list[tuple[Hook, int | None]]] = {}
        self._hooks_lock = threading.Lock()
        self._stall_s = 0.0
        self.tampered: list[str] = []  # the channels of the answers a hook changed, in order
        super().__init__(*args, **kwargs)

    # The server reads ``latency_s`` once per answer, right after ``answer`` returns and before
    # anything else runs on its loop: a stall set by ``answer`` delays exactly that answer,
    # and the writer, which sends in order, holds back those behind it.
    @property  # type: ignore[override]
    def latency_s(self) -> float:
        stall, self._stall_s = self._stall_s, 0.0
        return self._latency_s + stall

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        self._latency_s = value

    def tamper(self, channel: str, hook: Hook, *, times: int | None = None) -> None:
        """Pass the next ``times`` answers on ``channel`` (every one if None) through ``hook``."""
        with self._hooks_lock:
            self._hooks.setdefault(channel, []).append((hook, times))

    def calm(self) -> None:
        """Remove every hook: from now on the server answers as the sandbox does."""
        with self._hooks_lock:
            self._hooks.clear()

    def _take(self, channel: str) -> Hook | None:
        with self._hooks_lock:
            hooks = self._hooks.get(channel)
            if not hooks:
                return None
            hook, times = hooks[0]
            if times is not None:
                if times <= 1:
                    hooks.pop(0)
                else:
                    hooks[0] = (hook, times - 1)
            return hook

    def answer(self, session: Session, frame: str | bytes) -> tuple[Answer, bool]:
        answer, drop = super().answer(session, frame)
        if drop:
            return answer, drop
        decoded = orjson.loads(answer.frame)
        hook = self._take(decoded.get("channel", ""))
        if hook is None:
            return answer, drop
        self.tampered.append(decoded["channel"])
        result = hook(decoded)
        if result is DROP:
            return answer, True
        if isinstance(result, Stall):
            self._stall_s = result.seconds
            return answer, False
        answer.frame = orjson.dumps(result)
        return answer, False


# --- hooks ---------------------------------------------------------------------------------


def refuse(status: int, message: str = "the hostile server refused it") -> Hook:
    """Answer with this error status (and its contract code) instead."""

    def hook(frame: Frame) -> Frame:
        error = {"code": ERROR_CODES.get(status, "server_error"), "message": message}
        return {"channel": frame["channel"], "status": status, "error": error}

    return hook


def drop(frame: Frame) -> _Drop:
    """Close the connection instead of answering."""
    return DROP


def stall(seconds: float) -> Hook:
    """Answer ``seconds`` late."""

    def hook(frame: Frame) -> Stall:
        return Stall(seconds)

    return hook


def with_payload(payload: Any) -> Hook:
    """Answer 200 with this payload, whatever the sandbox made."""

    def hook(frame: Frame) -> Frame:
        return {"channel": frame["channel"], "status": 200, "payload": payload}

    return hook


def on_items(key: str, change: Callable[[list[Any]], list[Any]]) -> Hook:
    """Replace the list ``payload[key]`` of a 200 answer with ``change(list)``."""

    def hook(frame: Frame) -> Frame:
        if frame.get("status") == 200:
            frame["payload"][key] = change(list(frame["payload"][key]))
        return frame

    return hook


def on_item(key: str, match: Callable[[Any], bool], change: Callable[[dict[str, Any]], Any]) -> Hook:
    """Replace each item of ``payload[key]`` that ``match``es with ``change(item)`` (a copy to change)."""
    return on_items(key, lambda items: [change(dict(i)) if match(i) else i for i in items])


def on_payload(change: Callable[[Any], Any]) -> Hook:
    """Replace the payload of a 200 answer with ``change(payload)``."""

    def hook(frame: Frame) -> Frame:
        if frame.get("status") == 200:
            frame["payload"] = change(frame["payload"])
        return frame

    return hook


# --- servers for one purpose ------------------------------------------------------------------


class RecordingServer(HostileServer):
    """The hostile sandbox, keeping every frame it was sent, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.frames: list[str] = []
        super().__init__(*args, **kwargs)

    def answer(self, session: Session, frame: str | bytes) -> Any:
        self.frames.append(frame if isinstance(frame, str) else frame.decode("utf-8", "replace"))
        return super().answer(session, frame)

    def asked(self, operation: str) -> list[Any]:
        """The payloads of the JSON-form requests for ``operation``, in the order they came."""
        prefix = f"{operation} "
        return [orjson.loads(f[len(prefix) :]) for f in self.frames if f.startswith(prefix)]


class LosesTheAnswerToSay(SandboxServer):
    """Applies ``say`` and drops the connection instead of answering it: a lost answer."""

    def answer(self, session: Session, frame: str | bytes) -> tuple[Answer, bool]:
        answer, drop = super().answer(session, frame)
        return answer, drop or (isinstance(frame, str) and frame.startswith("say."))


# --- starting one ----------------------------------------------------------------------------


def start_hostile(
    *, apikeys: Sequence[str] = ("test-key",), sitekeys: Sequence[str] = ("test-bot",)
) -> SandboxHandle:
    """Start a hostile server on a free loopback port and return once it listens."""
    return start_sandbox(apikeys=apikeys, sitekeys=sitekeys, server_class=HostileServer)
