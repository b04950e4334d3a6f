"""Visitors who keep chatting while the sandbox runs, so live chat pages have something to show.

``--seed-demo`` starts ``run_live_visitors``; ``visitor_step`` is one tick of it.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

from sandbox.demo_content import BOT_REPLIES, VISITOR_LINES
from sandbox.demo_history import wspath
from sandbox.store import BotState, JSONDict, SandboxStore, iso_ms

Publish = Callable[[str, str, str, Any], Any]
MAX_LIVE_SESSIONS = 12


async def run_live_visitors(
    store: SandboxStore, publish: Publish, *, interval_s: float = 2.0, seed: int = 0
) -> None:
    """Forever: every ``interval_s`` a visitor writes in a live session, or a new one opens.

    Runs on the server's event loop, between requests, so it needs no locking.
    """
    rng = random.Random(seed)
    while True:
        await asyncio.sleep(interval_s)
        for sitekey, event, payload in visitor_step(store, rng):
            result = publish(sitekey, "chat", event, payload)
            if inspect.isawaitable(result):
                await result


def visitor_step(store: SandboxStore, rng: random.Random) -> list[tuple[str, str, JSONDict]]:
    """One tick of live visitors; returns the ``(sitekey, event, payload)`` to publish."""
    bots = [bot for _, bot in sorted(store.bots.items()) if bot.sessions]
    if not bots:
        return []
    bot = rng.choice(bots)
    live = [s for s in bot.sessions.values() if s["status"] != "closed"]
    events: list[tuple[str, str, JSONDict]] = []
    now = max(int(time.time() * 1000), bot.last_stamp_ms + 1)
    bot.last_stamp_ms = now
    if len(live) >= MAX_LIVE_SESSIONS:
        oldest = min(live, key=lambda s: s["last_message_at"])
        oldest["status"] = "closed"
        events.append((bot.sitekey, "chat.session", {"session": dict(oldest)}))
        live.remove(oldest)
    if bot.chatusers and (not live or rng.random() < 0.15):
        session = _open_session(store, bot, rng, now)
        events.append((bot.sitekey, "chat.session", {"session": dict(session)}))
        live.append(session)
    if not live:
        return events
    session = rng.choice(live)
    lines = [("user", rng.choice(VISITOR_LINES))]
    if session["status"] == "bot":
        lines.append(("bot", rng.choice(BOT_REPLIES)))
    for offset, (sender, text) in enumerate(lines):
        message = {"id": store.new_id(), "from": sender, "text": text, "at": iso_ms(now + offset)}
        bot.messages.setdefault(session["id"], []).append(message)
        session["last_message_at"] = message["at"]
        events.append((bot.sitekey, "chat.message", {"session_id": session["id"], "message": dict(message)}))
    bot.last_stamp_ms = now + len(lines) - 1
    return events


def _open_session(store: SandboxStore, bot: BotState, rng: random.Random, now: int) -> JSONDict:
    # The newest chat users are the likeliest to be on the site right now; the dict keeps
    # creation order, and reading its tail avoids sorting a million ids.
    newest = list(itertools.islice(reversed(bot.chatusers), 200))
    user = bot.chatusers[rng.choice(newest)]
    sid = store.new_id()
    session = {
        "id": sid,
        "wspath": wspath(rng),
        "chatuser_id": user["id"],
        "channel": user["channel"],
        "status": "bot",
        "agent_id": None,
        "started_at": iso_ms(now),
        "last_message_at": iso_ms(now),
    }
    bot.sessions[sid] = session
    bot.messages[sid] = []
    return session
