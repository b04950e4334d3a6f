"""The fast path from Userbot: change events, applied within a second or so.

One long-running process (``manage.py sync_listen``) subscribes, for every bot, to the
topics the registered kinds name (``SyncKind.topic``), checks each event against the
AsyncAPI contract, and hands them, a batch per bot and kind, to what the ``sync.refresh``
task runs (``tasks.refresh_events``), which calls the kind's ``refresh``: run in this
process (``Refresher``), not queued for the workers, where a fleet's pulls kept it waiting,
and over a client kept logged in per bot. What a refresh cannot settle, and everything
missed while the socket was down, is left to the periodic pull: events are a shortcut, the
scan is the guarantee.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from django.db import close_old_connections, connection
from django.db.models import F, Q

from backoffice.sync.kinds import SyncKind, event_kinds
from backoffice.sync.models import BotSync
from backoffice.userbot import schema
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Event
from backoffice.userbot.connections import KEPT_IDLE_S, ClientOf, KeptClients, client_for
from backoffice.userbot.errors import ConnectFailed, PayloadInvalid, TransportError, UserbotError
from backoffice.userbot.models import Bot

logger = logging.getLogger(__name__)
# ``dispatch(bot_id, kind label, event payloads)``
Dispatch = Callable[[int, str, list[dict[str, Any]]], None]


class Refresh(Protocol):
    """``tasks.refresh_events``: refresh what a batch names, over ``client_of(bot)``'s client."""

    def __call__(
        self, bot_id: int, label: str, events: list[dict[str, Any]], *, client_of: ClientOf
    ) -> object: ...


class Refresher:
    """Runs the listener's batches through ``refresh`` in this process, on ``threads`` of its
    own: queued for the workers, a refresh waited behind the pulls there (seconds, on a
    fleet of bots). A refresh that fails is logged and left to a pull.

    Each bot's refreshes read over one client kept logged in (``KeptClients``) instead of a
    connection and a login per batch. They run one at a time per bot, which the kept client
    needs (it is lent to one user at a time) and which keeps a bot's batches in order; a
    bot's batches that come while one of its refreshes is queued or running wait, merged,
    and are queued behind the other bots' when it ends, so no thread sits waiting for a bot.
    """

    def __init__(
        self,
        refresh: Refresh,
        on_failure: Callable[[int], None],
        *,
        threads: int = 2,
        idle_s: float = KEPT_IDLE_S,
    ) -> None:
        self.refresh, self.on_failure = refresh, on_failure
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="refresh")
        self.clients = KeptClients(idle_s=idle_s)
        self._lock = threading.Lock()
        self._waiting: dict[int, dict[str, list[dict[str, Any]]]] = {}  # by bot, by kind
        self._scheduled: set[int] = set()  # bots with a run queued or under way

    def __call__(self, bot_id: int, label: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self._waiting.setdefault(bot_id, {}).setdefault(label, []).extend(events)
            if bot_id in self._scheduled:
                return  # the bot's run takes them when it starts, or queues them when it ends
            self._scheduled.add(bot_id)
        self.pool.submit(self._run, bot_id)

    def close(self) -> None:
        """Finish the refreshes given so far, then close the kept clients."""
        self.pool.shutdown(wait=True)
        self.clients.close()

    def _run(self, bot_id: int) -> None:
        while True:
            with self._lock:
                batches = self._waiting.pop(bot_id, {})
            for label, events in batches.items():
                try:
                    self._refresh(bot_id, label, events)
                except Exception:  # even the ask for a pull failed; the bot's next batches still run
                    logger.exception("No pull could be asked for bot %s after a failed refresh", bot_id)
            with self._lock:
                if bot_id not in self._waiting:
                    self._scheduled.discard(bot_id)
                    return
            try:
                self.pool.submit(self._run, bot_id)  # behind the other bots' batches
                return
            except RuntimeError:  # ``close`` has begun: no new runs, so this one goes on
                continue

    def _refresh(self, bot_id: int, label: str, events: list[dict[str, Any]]) -> None:
        close_old_connections()  # this thread's, which may have outlived the server's patience
        try:
            self.refresh(bot_id, label, events, client_of=self.clients.borrow)
        except Exception:
            logger.exception(
                "Refreshing %d %s of bot %s failed; a pull brings them", len(events), label, bot_id
            )
            self.on_failure(bot_id)


class Listener:
    """Subscribes to every bot's change events and dispatches them in batches: the events
    that come within ``gather_s`` of the first (a bulk change on Userbot sends hundreds at
    once), dispatched then, and at least every ``flush_s`` the sockets are looked after."""

    def __init__(self, dispatch: Dispatch, *, flush_s: float = 0.3, gather_s: float = 0.05) -> None:
        self.dispatch = dispatch
        self.flush_s = flush_s
        self.gather_s = gather_s
        self.events: queue.Queue[tuple[int, str, dict[str, Any]]] = queue.Queue()
        self.clients: dict[int, UserbotClient] = {}
        self.reconnects: dict[int, int] = defaultdict(int)
        self.stopping = threading.Event()
        self.kinds: dict[str, SyncKind] = {kind.event: kind for kind in event_kinds()}

    def run(self, *, on_gap: Callable[[int], None], refresh_bots_s: float = 30.0) -> None:
        """Until ``stop``: keep a subscription per bot, flush events, call ``on_gap`` for a
        bot whose socket dropped (what it missed comes back through a pull)."""
        next_bots = 0.0
        try:
            while not self.stopping.is_set():
                if time.monotonic() >= next_bots:
                    self._subscribe_all(on_gap)
                    next_bots = time.monotonic() + refresh_bots_s
                self._flush(time.monotonic() + self.flush_s)
                for bot_id, client in list(self.clients.items()):
                    if client.reconnects != self.reconnects[bot_id]:
                        self.reconnects[bot_id] = client.reconnects
                        BotSync.objects.filter(bot_id=bot_id).update(reconnects=F("reconnects") + 1)
                        on_gap(bot_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        for client in self.clients.values():
            client.close()

    def _subscribe_all(self, on_gap: Callable[[int], None]) -> None:
        topics = sorted({kind.topic for kind in self.kinds.values()})
        for bot in Bot.objects.filter(~Q(pk__in=list(self.clients))):
            client = client_for(bot)
            try:
                for topic in topics:
                    client.subscribe(topic, lambda event, bot_id=bot.pk: self._receive(bot_id, event))
            except (ConnectFailed, TransportError, UserbotError) as exc:
                logger.warning("Cannot listen to %s yet: %s", bot.sitekey, exc)
                client.close()
                continue
            self.clients[bot.pk] = client
            logger.info("Listening to %s events of %s", ", ".join(topics), bot.sitekey)
            on_gap(bot.pk)  # whatever happened before we listened

    def _receive(self, bot_id: int, event: Event) -> None:
        kind = self.kinds.get(event.event)
        if kind is None:
            return
        try:
            schema.validate_event(event.event, event.payload)
        except PayloadInvalid as exc:
            # Untrusted input: dropped with its reason; the next pull finds what it meant.
            logger.warning("A %s event of bot %s is not valid and was dropped: %s", event.event, bot_id, exc)
            return
        self.events.put((bot_id, kind.label, event.payload))

    def _flush(self, until: float) -> None:
        batch: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        while True:
            timeout = until - time.monotonic()
            if timeout <= 0:
                break
            try:
                bot_id, label, payload = self.events.get(timeout=timeout)
            except queue.Empty:
                break
            if not batch:  # the first event waits for its fellows this long, no longer
                until = min(until, time.monotonic() + self.gather_s)
            batch[(bot_id, label)].append(payload)
        for (bot_id, label), events in batch.items():
            self.dispatch(bot_id, label, events)
