"""Opening protocol clients for the bots the back office knows, and keeping them open."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from django.conf import settings

from backoffice.userbot.client import UserbotClient
from backoffice.userbot.models import Bot

# How a caller lends a client for a bot, for the length of a ``with``: ``client_for`` (a
# client of its own, closed at the end) or ``KeptClients.borrow`` (one kept open).
ClientOf = Callable[[Bot], AbstractContextManager[UserbotClient]]
# A kept client unused this long is closed: a bot deleted, or gone quiet, holds no socket.
KEPT_IDLE_S = 300.0


def client_for(bot: Bot, *, apikey: str | None = None, **options: float | int | bool) -> UserbotClient:
    """A client for ``bot`` configured from settings; the caller connects and closes it.

    ``apikey`` logs in as another Userbot user of the bot's account (an operator's own key)
    instead of with the bot's key."""
    options.setdefault("timeout", settings.USERBOT_REQUEST_TIMEOUT_S)
    options.setdefault("heartbeat", settings.USERBOT_HEARTBEAT_S)
    options.setdefault("max_frame_bytes", settings.USERBOT_MAX_FRAME_BYTES)
    return UserbotClient(bot.server_url, apikey or bot.reveal_apikey(), bot.sitekey, **options)


@dataclass
class _Kept:
    client: UserbotClient
    # Where and as whom it logged in: the key as stored (encrypted), never the key itself.
    opened_for: tuple[str, str, str]
    used_at: float
    borrowed: bool = True


class KeptClients:
    """One client per bot, kept logged in between uses: a process that reads a bot again and
    again (the event listener's refreshes) pays the connection and the login (a round trip or
    three) once, not at every batch.

    ``borrow`` hands out a bot's client to one user at a time: the caller makes sure two
    never borrow the same bot's at once. A client that comes back without its connection is
    closed, and the next borrow opens a new one with a fresh login; so does a borrow after
    the bot's address, sitekey or API key changed. A client nobody borrowed for ``idle_s`` is
    closed (a background thread looks every quarter of it), so a deleted bot's goes too.
    """

    def __init__(self, *, idle_s: float = KEPT_IDLE_S) -> None:
        if idle_s <= 0:
            raise ValueError("idle_s must be positive")
        self.idle_s = idle_s
        self._kept: dict[int, _Kept] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reaper = threading.Thread(target=self._close_idle_ones, name="kept-clients", daemon=True)
        self._reaper.start()

    @contextmanager
    def borrow(self, bot: Bot) -> Iterator[UserbotClient]:
        """The bot's kept client (it connects at its first request), given back on leaving."""
        client = self._take(bot)
        try:
            yield client
        finally:
            self._give_back(bot.pk, client)

    def clients(self) -> dict[int, UserbotClient]:
        """The clients kept now, by bot id."""
        with self._lock:
            return {bot_id: kept.client for bot_id, kept in self._kept.items()}

    def close_idle(self) -> int:
        """Close the clients nobody borrowed for ``idle_s``; how many."""
        now = time.monotonic()
        with self._lock:
            idle = [
                bot_id
                for bot_id, kept in self._kept.items()
                if not kept.borrowed and now - kept.used_at >= self.idle_s
            ]
            gone = [self._kept.pop(bot_id).client for bot_id in idle]
        for client in gone:
            client.close()
        return len(gone)

    def close(self) -> None:
        """Close every kept client and stop looking for idle ones; call it once nothing is
        borrowed any more."""
        self._closing.set()
        self._reaper.join(timeout=5)
        with self._lock:
            gone = [kept.client for kept in self._kept.values()]
            self._kept.clear()
        for client in gone:
            client.close()

    def _take(self, bot: Bot) -> UserbotClient:
        opened_for = (bot.server_url, bot.sitekey, bot.apikey_ciphertext)
        with self._lock:
            kept = self._kept.get(bot.pk)
            if kept is not None and kept.opened_for == opened_for and kept.client.connected:
                kept.borrowed = True
                return kept.client
            client = client_for(bot)
            self._kept[bot.pk] = _Kept(client, opened_for, time.monotonic())
        if kept is not None:  # dropped since, or for a bot changed since: its socket goes
            kept.client.close()
        return client

    def _give_back(self, bot_id: int, client: UserbotClient) -> None:
        with self._lock:
            kept = self._kept.get(bot_id)
            if kept is None or kept.client is not client:
                lost = True  # closed meanwhile by ``close``
            elif client.connected:
                kept.borrowed, kept.used_at = False, time.monotonic()
                lost = False
            else:
                # Dropped, timed out or refused (or never needed): the next borrow starts anew.
                del self._kept[bot_id]
                lost = True
        if lost:
            client.close()

    def _close_idle_ones(self) -> None:
        while not self._closing.wait(self.idle_s / 4):
            self.close_idle()
