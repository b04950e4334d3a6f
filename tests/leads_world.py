"""A Userbot for the leads tests: the sandbox with its seeded leads (deterministic for a
seed and a clock), keeping every request frame it was sent."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.demo_history import seed_leads
from sandbox.runner import SandboxHandle, start_sandbox
from sandbox.store import BotState
from tests.conftest import APIKEY, SITEKEY
from tests.hostile import RecordingServer

NOW_MS = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z
SEED = 7


def seeded_bot(handle: SandboxHandle, seed: int = SEED) -> BotState:
    """The handle's bot, filled with the sandbox's seeded leads of ``seed`` at ``NOW_MS``."""
    state = handle.store.bots[SITEKEY]
    seed_leads(handle.store, state, random.Random(seed), NOW_MS)
    return state


def expected_leads(seed: int = SEED) -> dict[str, dict[str, Any]]:
    """The leads the seed gives, by company (ids aside), computed on a store of their own."""
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,)) as handle:
        return {lead["company"]: copy.deepcopy(lead) for lead in seeded_bot(handle, seed).leads.values()}


@pytest.fixture
def intel() -> Iterator[SandboxHandle]:
    """A recording sandbox whose bot holds the seeded leads."""
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), server_class=RecordingServer) as handle:
        seeded_bot(handle)
        yield handle


@pytest.fixture
def lead_bot(intel: SandboxHandle) -> Any:
    from backoffice.userbot.models import Bot

    bot = Bot(name="Leads bot", sitekey=SITEKEY, server_url=intel.url)
    bot.set_apikey(APIKEY)
    bot.save()
    return bot
