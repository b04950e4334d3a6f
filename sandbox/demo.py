"""Demo data for a sandbox bot: ``seed_demo``, and the chat users it makes.

The catalogue (``demo_catalogue``) and the history (``demo_history``) come after the chat
users, drawn from the same random source; ``visitors`` keeps the chats going afterwards.

``seed_demo`` is deterministic for one ``seed`` and one ``now_ms``, and fast enough for a
million chat users: the per-user work is a handful of random draws and string formats, and
everything that repeats (names, channels, variable objects) is shared, not rebuilt. Sharing
a variable object between chat users is safe because every handler replaces a chat user's
``variables`` and ``tags`` lists rather than editing the objects inside them.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sandbox.demo_catalogue import seed_automated_messages, seed_interactions, seed_segments
from sandbox.demo_content import (
    CHANNEL_POOL,
    CITIES,
    DAY_MS,
    EMAIL_DOMAINS,
    HISTORY_DAYS,
    LANGUAGE_POOL,
    NAMES,
    PHONE_PREFIXES,
    PLANS,
    TAGS,
    VARIABLE_TYPES,
)
from sandbox.demo_history import seed_leads, seed_sales, seed_sessions
from sandbox.store import BotState, JSONDict, SandboxStore


def seed_demo(
    store: SandboxStore, bot: BotState, *, chatusers: int = 300, seed: int = 0, now_ms: int | None = None
) -> None:
    """Fill ``bot`` with realistic demo data: chat users over the last 90 days and the rest.

    Deterministic for one ``seed`` and ``now_ms`` (default: the current second). Tags and
    variables already in the bot are reused by name; numbering continues after its chat users.
    """
    rng = random.Random(seed)
    now = int(time.time()) * 1000 if now_ms is None else now_ms
    tag_ids = seed_tags(store, bot, TAGS)
    values = {
        "plan": PLANS,
        "city": CITIES,
        "orders": tuple(str(n) for n in range(40)),
        "score": tuple(str(n) for n in range(101)),
    }
    variables = shared_variables(store, bot, [(name, kind, values[name]) for name, kind in VARIABLE_TYPES])
    with collector_paused():
        user_ids = _seed_chatusers(store, bot, rng, chatusers, now, tag_ids, variables)
    seed_segments(store, bot, now, tag_ids)
    seed_interactions(store, bot, rng, now)
    seed_automated_messages(store, bot, now, tag_ids)
    seed_sessions(store, bot, rng, now, user_ids)
    seed_sales(bot, rng, now)
    seed_leads(store, bot, rng, now)
    bot.last_stamp_ms = max(bot.last_stamp_ms, now)
    # The chat user indexes are rebuilt on their next use instead of here, so a large seed
    # pays for them once, when (and if) they are needed.
    bot.indexed_count = -1
    bot.order_stale = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """A million new dicts would set off the cycle collector over and over, each pass
    walking every object made so far; nothing a seed makes forms a cycle, so it can wait."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def seed_tags(store: SandboxStore, bot: BotState, tags: Sequence[tuple[str, str]]) -> list[str]:
    """The ids of these (name, colour) tags, made in the bot unless it has them by name."""
    by_name = {tag["name"].lower(): tid for tid, tag in bot.tags.items()}
    ids = []
    for name, color in tags:
        tid = by_name.get(name.lower())
        if tid is None:
            tid = store.new_id()
            bot.tags[tid] = {"id": tid, "name": name, "color": color}
        ids.append(tid)
    return ids


def shared_variables(
    store: SandboxStore, bot: BotState, spec: Sequence[tuple[str, str, Sequence[str]]]
) -> dict[str, list[JSONDict]]:
    """For each (name, type, values) variable, one shared Variable object per value a seed
    hands out; the bot's variable id and catalogue entry are reused or made."""
    known = {entry["name"] for entry in bot.bot_variables}
    shared: dict[str, list[JSONDict]] = {}
    for name, kind, values in spec:
        vid = bot.variable_ids.get(name)
        if vid is None:
            vid = store.new_id()
            bot.variable_ids[name] = vid
        if name not in known:
            bot.bot_variables.append({"name": name, "type": kind})
        shared[name] = [{"id": vid, "name": name, "value": value} for value in values]
    return shared


def _minute_prefix(minute: int) -> str:
    """``2026-11-24T09:30:`` for a minute counted from the epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))


def _seed_chatusers(
    store: SandboxStore,
    bot: BotState,
    rng: random.Random,
    count: int,
    now: int,
    tag_ids: list[str],
    variables: dict[str, list[JSONDict]],
) -> list[str]:
    """Create ``count`` chat users, oldest first, so ids and ``created_at`` rise together."""
    users = bot.chatusers
    rand = rng.random
    # Formatting a time is the costliest step per chat user; the minute's text is shared.
    minutes: dict[int, str] = {}
    span = HISTORY_DAYS * DAY_MS
    start = now - span
    names = {
        lang: (first, last, [n.lower() for n in first], [n.lower() for n in last])
        for lang, (first, last) in NAMES.items()
    }
    plans, cities, orders, scores = (
        variables["plan"],
        variables["city"],
        variables["orders"],
        variables["score"],
    )
    n_tags = len(tag_ids)
    first_number = len(users) + 1
    ids: list[str] = []
    new_id = store.new_id
    for i in range(count):
        number = first_number + i
        # u ** 0.7 packs more sign-ups into recent weeks, as a growing shop would see.
        created = start + int(span * ((i + rand()) / count) ** 0.7)
        prefix = minutes.get(created // 60_000)
        if prefix is None:
            prefix = minutes[created // 60_000] = _minute_prefix(created // 60_000)
        rest = created % 60_000
        created_at = f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"
        language = LANGUAGE_POOL[int(rand() * 100)]
        first_pool, last_pool, first_lower, last_lower = names[language]
        f, s = int(rand() * 10), int(rand() * 10)
        email = None
        if rand() < 0.92:
            email = f"{first_lower[f]}.{last_lower[s]}{number}@{EMAIL_DOMAINS[number & 3]}"
        phone = None
        if rand() < 0.7:
            phone = f"{PHONE_PREFIXES[number % 6]}{(number * 7919 + 1_000_003) % 1_000_000_000:09d}"
        roll = rand()
        if roll < 0.45:
            tags: list[str] = []
        else:
            first_tag = int(rand() * n_tags)
            tags = [tag_ids[first_tag]]
            if roll > 0.8:
                tags.append(tag_ids[(first_tag + 1 + int(rand() * (n_tags - 1))) % n_tags])
                if roll > 0.95:
                    tags.append(tag_ids[(first_tag + n_tags // 2) % n_tags])
                    if tags[2] == tags[1]:
                        tags.pop()
        user_variables = []
        if rand() < 0.8:
            user_variables.append(plans[int(rand() * 4)])
        if rand() < 0.6:
            user_variables.append(cities[int(rand() * 12)])
        if rand() < 0.5:
            user_variables.append(orders[int(rand() * rand() * 40)])
        if rand() < 0.4:
            user_variables.append(scores[int(rand() * 101)])
        last_seen_at = None
        if rand() < 0.85:
            seen = created + int((now - created) * rand())
            prefix = minutes.get(seen // 60_000)
            if prefix is None:
                prefix = minutes[seen // 60_000] = _minute_prefix(seen // 60_000)
            rest = seen % 60_000
            last_seen_at = f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"
        cid = new_id()
        users[cid] = {
            "id": cid,
            "client_ref": None,
            "name": first_pool[f],
            "surname": last_pool[s],
            "email": email,
            "phone": phone,
            "channel": CHANNEL_POOL[int(rand() * 100)],
            "language": language,
            "tags": tags,
            "variables": user_variables,
            "created_at": created_at,
            "updated_at": created_at,
            "last_seen_at": last_seen_at,
        }
        ids.append(cid)
    return ids
