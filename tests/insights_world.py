"""A Userbot for the insights tests: the sandbox with its demo history at a fixed clock,
every request frame it received kept, and answers a test tampers with (``tests.hostile``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson

from sandbox import demo
from sandbox.runner import SandboxHandle, start_sandbox
from sandbox.session import Session
from tests.conftest import APIKEY, SITEKEY
from tests.hostile import HostileServer

NOW_MS = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z: the demo history ends then
TODAY = date(2026, 11, 24)
SEED = 0


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

    def ranges(self, operation: str) -> list[tuple[date, date]]:
        return [(date.fromisoformat(p["from"]), date.fromisoformat(p["to"])) for p in self.asked(operation)]


def start_demo_userbot(sitekeys: Sequence[str] = (SITEKEY,)) -> SandboxHandle:
    """A recording sandbox whose first bot holds the demo history of SEED up to NOW_MS."""
    handle = start_sandbox(apikeys=(APIKEY,), sitekeys=sitekeys, server_class=RecordingServer)
    demo.seed_demo(handle.store, handle.store.bots[sitekeys[0]], seed=SEED, now_ms=NOW_MS)
    handle.store.reindex()
    return handle
