"""The fast path from Userbot: ``chatusers.changed`` events, applied within a second or so.

One long-running process (``manage.py sync_listen``) subscribes to every bot's chat user
events and hands them, a batch per bot, to the ``sync.refresh`` task. ``refresh_chatusers``
skips the echoes of our own pushes (an ``updated_at`` already recorded), finds the
changed chat users by a targeted read (a search on the email or phone we know, or the
newest page for ones created there), and applies them with the same code as the full
scan. What it cannot find, and everything missed while the socket was down, is left to
the periodic pull: events are a shortcut, the scan is the guarantee.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from backoffice.sync.kinds import PullContext, failure_of, parse_time
from backoffice.sync.models import BotSync
from backoffice.sync.pull import bot_sync
from backoffice.userbot import api, schema
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Event
from backoffice.userbot.connections import client_for
from backoffice.userbot.errors import ConnectFailed, PayloadInvalid, TransportError, UserbotError
from backoffice.userbot.models import Bot

logger = logging.getLogger(__name__)
SEARCH_LIMIT = 50
TAIL = 1000


def refresh_chatusers(bot: Bot, events: list[dict[str, Any]]) -> dict[str, int]:
    """Apply the chat users these events name; returns counts, with ``unresolved`` for the
    ones only a full pull can settle."""
    from chatusers.models import ChatUser
    from chatusers.sync.documents import TagBook
    from chatusers.sync.pull import Scan

    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        latest[event["id"]] = event  # the last word on each chat user
    known = {
        row["remote_id"]: row
        for row in ChatUser.objects.filter(bot=bot, remote_id__in=list(latest)).values(
            "pk", "remote_id", "remote_updated_at", "email", "phone"
        )
    }
    gone = [rid for rid, e in latest.items() if e["op"] == "deleted" and rid in known]
    wanted = {
        rid
        for rid, e in latest.items()
        if e["op"] != "deleted"
        and (rid not in known or known[rid]["remote_updated_at"] != parse_time(e.get("updated_at")))
    }
    counts = {"echoes": len(latest) - len(wanted) - len(gone), "applied": 0, "deleted": 0, "unresolved": 0}
    if not wanted and not gone:
        return counts
    with client_for(bot) as client:
        ctx = PullContext(
            bot=bot,
            settings=bot_sync(bot),
            client=client,
            started_at=timezone.now(),
            renew_lease=lambda: None,
        )
        scan = Scan(ctx, TagBook(bot))
        found = _find(client, wanted, known)
        if found:
            scan.apply(list(found.values()))
            counts["applied"] = len(found)
        if gone:
            counts["deleted"] = scan.remove_gone([(known[rid]["pk"], rid) for rid in gone])
    counts["unresolved"] = len(wanted) - len(found)
    return counts


def _find(
    client: UserbotClient, wanted: set[str], known: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The chat users of ``wanted`` as Userbot has them now, as far as targeted reads find them."""
    found: dict[str, dict[str, Any]] = {}
    searchable = [(rid, known[rid]["email"] or known[rid]["phone"]) for rid in wanted if rid in known]
    searchable = [(rid, term) for rid, term in searchable if term]
    requests = (api.chatusers_get(offset=0, limit=SEARCH_LIMIT, search=term) for _, term in searchable)
    for (rid, _), outcome in zip(searchable, client.iter_many(requests), strict=True):
        if failure_of(outcome) is None:
            found.update({u["id"]: u for u in _page(outcome.payload) if u.get("id") == rid})  # type: ignore[union-attr]
    if wanted - set(found):
        # Chat users created on Userbot, or whose email and phone changed: the newest come last.
        first = client.call(api.chatusers_get(offset=0, limit=1))
        total = first.get("total") if isinstance(first, dict) else None
        if not isinstance(total, int) or total < 0:
            return found  # an answer that says no total: the pull will settle the rest
        tail = _page(client.call(api.chatusers_get(offset=max(0, total - TAIL), limit=TAIL)))
        found.update({u["id"]: u for u in tail if u.get("id") in wanted and u["id"] not in found})
    return found


def _page(payload: Any) -> list[dict[str, Any]]:
    """The objects of a ``chatusers.get`` answer that are objects at all; what they hold is
    checked where they are applied (``Scan.apply``), and an answer that is no page is none."""
    users = payload.get("chatusers") if isinstance(payload, dict) else None
    return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []


class Listener:
    """Subscribes to every bot's chat user events and dispatches them in batches."""

    def __init__(
        self, dispatch: Callable[[int, list[dict[str, Any]]], None], *, flush_s: float = 0.3
    ) -> None:
        self.dispatch = dispatch
        self.flush_s = flush_s
        self.events: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self.clients: dict[int, UserbotClient] = {}
        self.reconnects: dict[int, int] = defaultdict(int)
        self.stopping = threading.Event()

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
        for bot in Bot.objects.filter(~Q(pk__in=list(self.clients))):
            client = client_for(bot)
            try:
                client.subscribe("chatusers", lambda event, bot_id=bot.pk: self._receive(bot_id, event))
            except (ConnectFailed, TransportError, UserbotError) as exc:
                logger.warning("Cannot listen to %s yet: %s", bot.sitekey, exc)
                client.close()
                continue
            self.clients[bot.pk] = client
            logger.info("Listening to chat user events of %s", bot.sitekey)
            on_gap(bot.pk)  # whatever happened before we listened

    def _receive(self, bot_id: int, event: Event) -> None:
        if event.event != "chatusers.changed":
            return
        try:
            schema.validate_event(event.event, event.payload)
        except PayloadInvalid as exc:
            # Untrusted input: dropped with its reason; the next pull finds what it meant.
            logger.warning(
                "A chatusers.changed event of bot %s is not valid and was dropped: %s", bot_id, exc
            )
            return
        self.events.put((bot_id, event.payload))

    def _flush(self, until: float) -> None:
        batch: dict[int, list[dict[str, Any]]] = defaultdict(list)
        while True:
            timeout = until - time.monotonic()
            if timeout <= 0:
                break
            try:
                bot_id, payload = self.events.get(timeout=timeout)
            except queue.Empty:
                break
            batch[bot_id].append(payload)
        for bot_id, events in batch.items():
            self.dispatch(bot_id, events)
