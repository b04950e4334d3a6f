"""One Userbot chat subscription per bot, held by one web process, fanned out to browsers.

A web process that has browsers watching a bot tries, every fifth of a lease, to take or renew
the bot's lease (``ChatFeedLease``, a conditional update that must return one row). The
holder keeps a ``subscribe chat`` connection and puts each checked event into the bot's
channel-layer group, in order, on the process's event loop: with Redis every web process's
browsers get it; in the embedded default (no Redis) the one web process is the holder. A
holder that dies stops renewing, and a process with watchers takes over once the lease
ends. When the connection drops the pages are told ``reconnecting``; once it is back
(subscriptions restored by the client) they are told to read again (``resync``), since
events sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Event
from backoffice.userbot.connections import client_for
from backoffice.userbot.errors import ConnectFailed, TransportError, UserbotError
from backoffice.userbot.models import Bot
from livechat.fanout import group_of, news
from livechat.models import ChatFeedLease
from livechat.selectors import describe
from livechat.wire import chat_event

logger = logging.getLogger(__name__)


def lease_s() -> float:
    return float(settings.LIVECHAT_FEED_LEASE_S)


def renew_s() -> float:
    """Renewed five times a lease, so a holder that misses a renewal or two keeps it."""
    return lease_s() / 5


CHECK_S = 0.5


def take_lease(bot_id: int, holder: str, *, seconds: float | None = None) -> bool:
    """Take or renew ``bot_id``'s lease for ``holder``; False while another holds it."""
    seconds = lease_s() if seconds is None else seconds
    now = timezone.now()
    ChatFeedLease.objects.get_or_create(bot_id=bot_id)
    return (
        ChatFeedLease.objects.filter(
            Q(holder=holder) | Q(holder="") | Q(until__lt=now) | Q(until=None), bot_id=bot_id
        ).update(holder=holder, until=now + timedelta(seconds=seconds))
        == 1
    )


def release_lease(bot_id: int, holder: str) -> None:
    ChatFeedLease.objects.filter(bot_id=bot_id, holder=holder).update(holder="", until=None)


class BotFeed:
    """The subscription of one bot, on a thread of its own, while this process holds the lease.

    The client's reader thread only queues events; this thread checks them, names a chat's
    chat user and holder (two queries), and hands them to the event loop in order."""

    def __init__(self, bot: Bot, post: Any) -> None:
        self.bot = bot
        self.client: UserbotClient = client_for(bot)
        self.post = post  # thread-safe: hands a channel-layer message to the event loop
        self.events: queue.Queue[Event] = queue.Queue()
        self.stopping = threading.Event()
        self.subscribed = False
        self.thread = threading.Thread(target=self._run, name=f"chat-feed-{bot.pk}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.client.close()

    def _run(self) -> None:
        try:
            self._feed()
        finally:
            self.client.close()
            connection.close()  # this thread's own

    def _feed(self) -> None:
        live = False
        wait = CHECK_S
        while not self.stopping.is_set():
            if not self.subscribed or not self.client.connected:
                if live:
                    self._status("reconnecting")
                    live = False
                try:
                    if self.subscribed:
                        self.client.connect()  # the subscription is restored in the handshake
                    else:
                        self.client.subscribe("chat", self.events.put)  # connects, then subscribes
                        self.subscribed = True
                except (ConnectFailed, TransportError, UserbotError) as exc:
                    if not live:
                        self._status("reconnecting", reason=str(exc))
                    wait = min(wait * 2, 10.0)
                    self.stopping.wait(wait)
                    continue
                live, wait = True, CHECK_S
                self._status("live")
                self.post(news(self.bot.pk, {"type": "resync"}))
            try:
                event = self.events.get(timeout=CHECK_S)
            except queue.Empty:
                continue
            self._forward(event)

    def _status(self, state: str, *, reason: str = "") -> None:
        self.post(news(self.bot.pk, {"type": "status", "state": state, "reason": reason}))

    def _forward(self, event: Event) -> None:
        body = chat_event(event.event, event.payload)
        if body is None:
            return
        if body["type"] == "session":
            (body["session"],) = describe(self.bot, [body["session"]], me="")
        self.post(news(self.bot.pk, body))


class Feeds:
    """This process's watchers per bot and the feeds it holds; one per process."""

    def __init__(self) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.watchers: Counter[int] = Counter()
        self.feeds: dict[int, BotFeed] = {}
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.layer: Any = None
        self.queue: asyncio.Queue[dict[str, Any]] | None = None
        self.pump: asyncio.Task[None] | None = None
        self.keeper: threading.Thread | None = None
        self.wake = threading.Event()

    def watch(self, bot_id: int, layer: Any) -> None:
        """A browser of this process watches ``bot_id`` (called on the event loop)."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.loop is not loop:
                self.loop, self.layer = loop, layer
                self.queue = asyncio.Queue()
                self.pump = loop.create_task(self._pump(self.queue))
            self.watchers[bot_id] += 1
            if self.keeper is None or not self.keeper.is_alive():
                self.keeper = threading.Thread(target=self._keep, name="chat-feeds", daemon=True)
                self.keeper.start()
        self.wake.set()

    def unwatch(self, bot_id: int) -> None:
        with self.lock:
            self.watchers[bot_id] -= 1
            if self.watchers[bot_id] <= 0:
                del self.watchers[bot_id]
        self.wake.set()

    def post(self, message: dict[str, Any]) -> None:
        """From any thread: queue ``message`` for the bot's group, in order."""
        loop, queue = self.loop, self.queue
        if loop is None or queue is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(queue.put_nowait, message)

    async def _pump(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            try:
                await self.layer.group_send(group_of(message["body"]["bot"]), message)
            except Exception:
                logger.exception("A live chat event could not reach the pages")

    def _keep(self) -> None:
        while True:
            self.wake.wait(renew_s())
            self.wake.clear()
            close_old_connections()
            try:
                self._keep_once()
            except Exception:
                logger.exception("Keeping the chat feeds failed; trying again")
            with self.lock:
                if not self.watchers and not self.feeds:
                    self.keeper = None
                    connection.close()  # this thread's own connection
                    return

    def _keep_once(self) -> None:
        with self.lock:
            watched = set(self.watchers)
        for bot_id in list(self.feeds):
            if bot_id not in watched:
                self.feeds.pop(bot_id).stop()
                release_lease(bot_id, self.holder)
        for bot_id in watched:
            held = take_lease(bot_id, self.holder)
            if held and bot_id not in self.feeds:
                bot = Bot.objects.filter(pk=bot_id).first()
                if bot is None:
                    continue
                feed = self.feeds[bot_id] = BotFeed(bot, self.post)
                feed.start()
                logger.info("This process feeds the live chats of bot %s", bot_id)
            elif not held and bot_id in self.feeds:
                self.feeds.pop(bot_id).stop()
                logger.info("Another process took over the live chats of bot %s", bot_id)

    def stop_all(self) -> None:
        """Stop every feed and give up the leases (tests, and a process shutting down)."""
        with self.lock:
            self.watchers.clear()
            feeds, self.feeds = dict(self.feeds), {}
            keeper = self.keeper
        for bot_id, feed in feeds.items():
            feed.stop()
            release_lease(bot_id, self.holder)
        self.wake.set()
        if keeper is not None:
            keeper.join(timeout=renew_s() * 3)


FEEDS = Feeds()
