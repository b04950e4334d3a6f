"""Visitors of the bots' sites: the live ones who keep chatting, and the acts a test asks of one.

``run_live_visitors`` (on while the sandbox runs with ``--visitors-every`` above 0) calls
``visitor_step``, one tick of random visitors. ``open_chat``, ``visitor_says``,
``ask_for_human``, ``close_chat`` and ``delete_chat`` do one thing a visitor would, on demand;
``SandboxHandle`` runs them on the server's loop. Both go through ``live_chat``, as the
agents' operations do, so every path changes a chat and announces it the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
from collections.abc import Callable
from typing import Any

from sandbox.chatuser_record import channel_problem
from sandbox.chatusers_create import create as create_chatusers
from sandbox.demo_content import BOT_REPLIES, HUMAN_REQUESTS, VISITOR_LINES
from sandbox.demo_history import wspath
from sandbox.live_chat import (
    Event,
    append_message,
    clock_ms,
    close_session,
    delete_session,
    find_open_session,
    find_session,
    next_stamp,
    open_session,
)
from sandbox.live_chat import ask_for_human as session_asks_for_human
from sandbox.registry import Context, invalid, not_found
from sandbox.store import BotState, JSONDict, SandboxStore

Publish = Callable[[str, str, str, Any], Any]
MAX_LIVE_SESSIONS = 12
DEFAULT_EVERY_S = 2.0
# How often a visitor writing in a bot session asks for a person instead: often enough that
# a console shows chats waiting for an agent, rare enough that most stay with the bot.
ASK_FOR_HUMAN_CHANCE = 1 / 8


async def run_live_visitors(
    store: SandboxStore, publish: Publish, *, interval_s: float = DEFAULT_EVERY_S, seed: int = 0
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


def visitor_step(
    store: SandboxStore, rng: random.Random, now_ms: int | None = None
) -> list[tuple[str, str, JSONDict]]:
    """One tick of live visitors at ``now_ms`` (default the clock): ``(sitekey, event, payload)`` to publish.

    A visitor in a bot session now and then asks for a person: the bot does not answer, and
    the session waits for an agent (``chat.session`` after the ``chat.message``).
    """
    bots = [bot for _, bot in sorted(store.bots.items()) if bot.sessions]
    if not bots:
        return []
    bot = rng.choice(bots)
    live = [s for s in bot.sessions.values() if s["status"] != "closed"]
    events: list[Event] = []
    now = next_stamp(bot, now_ms)
    if len(live) >= MAX_LIVE_SESSIONS:
        oldest = min(live, key=lambda s: s["last_message_at"])
        closed = close_session(oldest)
        if closed is not None:
            events.append(closed)
        live.remove(oldest)
    if bot.chatusers and (not live or rng.random() < 0.15):
        session, opened = _open_random_session(store, bot, rng, now)
        events.append(opened)
        live.append(session)
    if not live:
        return _for_bot(bot, events)
    session = rng.choice(live)
    asks = session["status"] == "bot" and rng.random() < ASK_FOR_HUMAN_CHANCE
    if asks:
        lines = [("user", rng.choice(HUMAN_REQUESTS))]
    else:
        lines = [("user", rng.choice(VISITOR_LINES))]
        if session["status"] == "bot":
            lines.append(("bot", rng.choice(BOT_REPLIES)))
    for offset, (sender, text) in enumerate(lines):
        events.append(append_message(store, bot, session, sender, text, now + offset)[1])
    bot.last_stamp_ms = now + len(lines) - 1
    if asks:
        handed = session_asks_for_human(session)
        if handed is not None:
            events.append(handed)
    return _for_bot(bot, events)


def _for_bot(bot: BotState, events: list[Event]) -> list[tuple[str, str, JSONDict]]:
    return [(bot.sitekey, event, payload) for _, event, payload in events]


def _open_random_session(
    store: SandboxStore, bot: BotState, rng: random.Random, now: int
) -> tuple[JSONDict, Event]:
    # The newest chat users are the likeliest to be on the site right now; the dict keeps
    # creation order, and reading its tail avoids sorting a million ids.
    newest = list(itertools.islice(reversed(bot.chatusers), 200))
    user = bot.chatusers[rng.choice(newest)]
    return open_session(store, bot, user, now, wspath=wspath(rng))


# --- one visitor's acts, on demand ------------------------------------------------------------
#
# Each returns what it answers (a copy, safe to hand to another thread) and the events to
# publish as ``(topic, event, payload)``. An unknown bot, chat user or session is 404; a
# closed session cannot be written in or handed over (400), as with the agents' operations.


def open_chat(
    store: SandboxStore,
    sitekey: str,
    *,
    chatuser_id: str | None = None,
    channel: str | None = None,
    now_ms: int | None = None,
) -> tuple[JSONDict, list[Event]]:
    """A visitor opens a chat held by the bot: as ``chatuser_id``, else the newest chat user,
    else a new ``webchat`` one (created as ``chatusers.create`` would, with its event).

    ``channel`` is the session's (default the chat user's) and a new chat user's.
    """
    bot = _bot(store, sitekey)
    if channel is not None and (problem := channel_problem(channel)):
        raise invalid(f"channel {problem}", {"channel": problem})
    events: list[Event] = []
    if chatuser_id is not None:
        user = bot.chatusers.get(chatuser_id)
        if user is None:
            raise not_found(f"no chat user {chatuser_id}")
    elif bot.chatusers:
        user = bot.chatusers[bot.ordered_chatuser_ids()[-1]]
    else:
        user, created = _new_chatuser(store, bot, channel or "webchat", now_ms)
        events += created
    session, opened = open_session(store, bot, user, next_stamp(bot, now_ms), channel=channel)
    events.append(opened)
    return dict(session), events


def visitor_says(
    store: SandboxStore, sitekey: str, session_id: str, text: str, *, now_ms: int | None = None
) -> tuple[JSONDict, list[Event]]:
    """The visitor writes ``text`` in an open session; the bot does not answer on its own here."""
    bot = _bot(store, sitekey)
    session = find_open_session(bot, session_id)
    if not text.strip():
        raise invalid("the message is empty", {"text": "required, not empty"})
    message, event = append_message(store, bot, session, "user", text, next_stamp(bot, now_ms))
    return dict(message), [event]


def ask_for_human(store: SandboxStore, sitekey: str, session_id: str) -> tuple[JSONDict, list[Event]]:
    """The visitor asks for a person: a bot session waits for an agent (``agent``, ``agent_id`` null).

    A session an agent holds or already waits for stays as it is, with no event.
    """
    session = find_open_session(_bot(store, sitekey), session_id)
    event = session_asks_for_human(session)
    return dict(session), [] if event is None else [event]


def close_chat(store: SandboxStore, sitekey: str, session_id: str) -> tuple[JSONDict, list[Event]]:
    """The visitor leaves: the session is closed (no event if it already was)."""
    session = find_session(_bot(store, sitekey), session_id)
    event = close_session(session)
    return dict(session), [] if event is None else [event]


def delete_chat(store: SandboxStore, sitekey: str, session_id: str) -> tuple[None, list[Event]]:
    """The chat is removed with its messages; later reads of it answer 404. No event exists for it."""
    if not delete_session(_bot(store, sitekey), session_id):
        raise not_found(f"no session {session_id}")
    return None, []


def _bot(store: SandboxStore, sitekey: str) -> BotState:
    bot = store.bots.get(sitekey)
    if bot is None:
        raise not_found(f"no bot {sitekey}")
    return bot


def _new_chatuser(
    store: SandboxStore, bot: BotState, channel: str, now_ms: int | None
) -> tuple[JSONDict, list[Event]]:
    """A chat user for a visitor the bot has not met, made by ``chatusers.create``'s own code."""
    account = next(iter(store.accounts.values()), None)
    if account is None:
        raise RuntimeError("the sandbox has no account to create a chat user with")
    ctx = Context(store=store, account=account, bot=bot, now_ms=clock_ms() if now_ms is None else now_ms)
    (user,) = create_chatusers(ctx, [{"channel": channel}])["chatusers"]
    return user, ctx.events
