"""A Userbot for the insights tests: the sandbox with its demo history at a fixed clock,
every request frame it received kept, and answers a test tampers with (``tests.hostile``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sandbox import demo
from sandbox.runner import SandboxHandle, start_sandbox
from tests import hostile
from tests.conftest import APIKEY, SITEKEY

NOW_MS = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z: the demo history ends then
TODAY = date(2026, 11, 24)
SEED = 0


class RecordingServer(hostile.RecordingServer):
    """The recording sandbox, reading the ranges stats requests asked for."""

    def ranges(self, operation: str) -> list[tuple[date, date]]:
        return [(date.fromisoformat(p["from"]), date.fromisoformat(p["to"])) for p in self.asked(operation)]


def start_demo_userbot(sitekeys: Sequence[str] = (SITEKEY,)) -> SandboxHandle:
    """A recording sandbox whose first bot holds the demo history of SEED up to NOW_MS."""
    handle = start_sandbox(apikeys=(APIKEY,), sitekeys=sitekeys, server_class=RecordingServer)
    demo.seed_demo(handle.store, handle.store.bots[sitekeys[0]], seed=SEED, now_ms=NOW_MS)
    handle.store.reindex()
    return handle
