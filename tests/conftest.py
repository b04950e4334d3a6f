"""Shared fixtures: a sandbox Userbot server on loopback and raw WebSocket connections to it."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.sync.client import ClientConnection, connect

from sandbox.runner import SandboxHandle, start_sandbox

APIKEY = "test-key"
SITEKEY = "test-bot"
RECV_TIMEOUT_S = 5.0


class RawWs:
    """A bare WebSocket connection speaking frames: no client library between the test and the wire."""

    def __init__(self, url: str) -> None:
        self.connection: ClientConnection = connect(
            url, max_size=None, compression=None, open_timeout=5, legacy=True
        )
        self.events: list[dict[str, Any]] = []

    def send(self, frame: str | bytes) -> None:
        self.connection.send(frame)

    def recv(self, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        """The next frame from the server, response or event, as JSON."""
        return orjson.loads(self.connection.recv(timeout=timeout))

    def call(self, frame: str | bytes) -> dict[str, Any]:
        """Send one request and return its response; events that arrive first are kept in ``events``."""
        self.send(frame)
        while True:
            message = self.recv()
            if "event" in message:
                self.events.append(message)
                continue
            return message

    def request(self, channel: str, payload: Any = None) -> dict[str, Any]:
        """Send a JSON-form request (``channel`` alone when ``payload`` is None) and return the response."""
        if payload is None:
            return self.call(channel)
        return self.call(f"{channel} {orjson.dumps(payload).decode()}")

    def ok(self, channel: str, payload: Any = None) -> Any:
        """The payload of a JSON-form request that must answer 200."""
        response = self.request(channel, payload)
        assert response.get("status") == 200, response
        return response["payload"]

    def login(self, apikey: str = APIKEY, sitekey: str = SITEKEY) -> RawWs:
        assert self.call(f"apiLogin {apikey}")["status"] == 200
        assert self.call(f"sitekey undefined {sitekey}")["status"] == 200
        return self

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def chaos_seed() -> int:
    """The seed of a randomised test: ``CHAOS_SEED`` from the environment, else a new one.

    It is printed, so a failure shows it with the test's output and can be run again with it
    (``CHAOS_SEED=<seed> pytest <test>``); ``benchmarks/chaos.py`` runs a test over many.
    """
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(2**32))
    print(f"chaos seed {seed}: rerun with CHAOS_SEED={seed}")
    return seed


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """A fresh sandbox for one test: account ``test-key``, bot ``test-bot``, no faults."""
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,)) as handle:
        yield handle


@pytest.fixture
def open_ws(request: pytest.FixtureRequest) -> Iterator[Callable[..., RawWs]]:
    """Open connections, closed after the test: ``open_ws(login=True, url=None, apikey=, sitekey=)``.

    Without ``url`` it connects to the ``sandbox`` fixture's server.
    """
    opened: list[RawWs] = []

    def opener(
        *, login: bool = True, url: str | None = None, apikey: str = APIKEY, sitekey: str = SITEKEY
    ) -> RawWs:
        ws = RawWs(url or request.getfixturevalue("sandbox").url)
        opened.append(ws)
        return ws.login(apikey, sitekey) if login else ws

    yield opener
    for ws in opened:
        ws.close()


@pytest.fixture
def raw_ws(open_ws: Callable[..., RawWs]) -> RawWs:
    """A connection to ``sandbox`` that has sent ``apiLogin test-key`` and ``sitekey undefined test-bot``."""
    return open_ws()


@pytest.fixture(autouse=True)
def _relay_not_woken(settings: Any) -> None:
    """Changes queue outbox entries but do not wake a relay: tests push when they mean to."""
    settings.SYNC_WAKE_ON_COMMIT = False


@pytest.fixture
def bot(sandbox: SandboxHandle) -> Any:
    """The ``sandbox`` fixture's bot, registered here for the sync engine."""
    from backoffice.userbot.models import Bot

    bot = Bot(name="Test bot", sitekey=SITEKEY, server_url=sandbox.url)
    bot.set_apikey(APIKEY)
    bot.save()
    return bot


@pytest.fixture
def operator() -> Any:
    """A staff user who makes changes through the services."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("operator", password="x", is_staff=True)
