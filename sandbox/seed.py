"""Synthetic chat users in bulk, for benchmarks: a bot the size of a large shop's.

``seed_chatusers`` fills a bot with any number of realistic chat users (names that fit
their language, unique emails, most with a phone, a spread of channels and languages, up to
three tags and three variables each, created over the past year) fast enough for a million
in a few seconds. Each chat user is a handful of random draws and string formats: a time is
formatted from its day's shared prefix, and a Variable object is shared by every chat user
holding that value, which is safe because handlers replace a chat user's ``tags`` and
``variables`` lists rather than edit what is inside them (see ``demo``). The indexes and the
``chatusers.get`` order are built once, at the end.
"""

from __future__ import annotations

import itertools
import random
import time

from sandbox import demo
from sandbox.demo_content import (
    CHANNEL_POOL,
    CITIES,
    EMAIL_DOMAINS,
    LANGUAGE_POOL,
    NAMES,
    PHONE_PREFIXES,
    PLANS,
    TAGS,
)
from sandbox.store import BotState, JSONDict, SandboxStore

DAY_MS = 86_400_000
HISTORY_DAYS = 365
SEED_TAGS = TAGS[:8]
SEED_VARIABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("plan", "string", PLANS),
    ("city", "string", CITIES),
    ("orders", "number", tuple(str(n) for n in range(40))),
)
# Chance of each count of tags: none, one, two, three.
TAG_COUNT_CUTS = (0.4, 0.75, 0.93)
# Chance of each variable a chat user may carry: a plan, a city, an order count.
VARIABLE_ODDS = (0.7, 0.5, 0.35)


def seed_chatusers(
    store: SandboxStore, bot: BotState, count: int, *, seed: int = 0, now_ms: int | None = None
) -> list[str]:
    """Add ``count`` synthetic chat users to ``bot`` and return their ids, oldest first.

    Deterministic for one ``seed`` and ``now_ms`` (default: the current second). Tags and
    variables the bot already has are reused by name; an email or phone the bot already
    holds is left out rather than repeated. Afterwards the bot is as the handlers keep it:
    indexes, the tag and variable registries, the ``bot.get-vars`` catalogue and the order.
    """
    now = int(time.time()) * 1000 if now_ms is None else now_ms
    rng = random.Random(seed)
    tag_ids = demo.seed_tags(store, bot, SEED_TAGS)
    variables = list(demo.shared_variables(store, bot, SEED_VARIABLES).values())
    was_empty = not bot.chatusers
    with demo.collector_paused():
        ids = _chatusers(store, bot, rng, count, now, tag_ids, variables)
        bot.reindex_chatusers()
    if was_empty:
        # Times never decrease and ids rise along the list, so it already is the order.
        bot.chatuser_order = list(ids)
        bot.order_stale = False
        bot.order_by_id = True
    bot.last_stamp_ms = max(bot.last_stamp_ms, now)
    return ids


def _chatusers(
    store: SandboxStore,
    bot: BotState,
    rng: random.Random,
    count: int,
    now: int,
    tag_ids: list[str],
    variables: list[list[JSONDict]],
) -> list[str]:
    users = bot.chatusers
    emails_held, phones_held = bot.chatuser_index("email"), bot.chatuser_index("phone")
    rand = rng.random
    span = HISTORY_DAYS * DAY_MS
    start = now - span
    step = span / max(count, 1)
    days: dict[int, str] = {}
    names = {
        language: (first, last, [n.lower() for n in first], [n.lower() for n in last])
        for language, (first, last) in NAMES.items()
    }
    tag_sets = [list(itertools.combinations(tag_ids, k)) for k in range(4)]
    plans, cities, orders = variables
    plan_odds, city_odds, orders_odds = VARIABLE_ODDS
    first_number = len(users) + 1
    # Ids are handed out as ``store.new_id`` would, in one block.
    first_id = store.next_id
    store.next_id += count
    ids = [f"{value:024x}" for value in range(first_id, first_id + count)]
    for i, cid in enumerate(ids):
        number = first_number + i
        # Spread evenly with jitter: never earlier than the chat user before.
        created = start + int((i + rand()) * step)
        created_at = _iso(created, days)
        language = LANGUAGE_POOL[int(rand() * 100)]
        first_pool, last_pool, first_lower, last_lower = names[language]
        f, s = int(rand() * 10), int(rand() * 10)
        email = None
        if rand() < 0.95:
            email = f"{first_lower[f]}.{last_lower[s]}{number}@{EMAIL_DOMAINS[number & 3]}"
            if email in emails_held:
                email = None
        phone = None
        if rand() < 0.75:
            # 7919 is prime to 10**9, so the nine digits differ for every number below it.
            phone = f"{PHONE_PREFIXES[number % 6]}{(number * 7919 + 1_000_003) % 1_000_000_000:09d}"
            if phone in phones_held:
                phone = None
        roll = rand()
        tag_count = 0 if roll < TAG_COUNT_CUTS[0] else 1 if roll < TAG_COUNT_CUTS[1] else 2
        if roll >= TAG_COUNT_CUTS[2]:
            tag_count = 3
        options = tag_sets[tag_count]
        tags = list(options[int(rand() * len(options))])
        user_variables = []
        if rand() < plan_odds:
            user_variables.append(plans[int(rand() * len(plans))])
        if rand() < city_odds:
            user_variables.append(cities[int(rand() * len(cities))])
        if rand() < orders_odds:
            user_variables.append(orders[int(rand() * rand() * len(orders))])
        last_seen_at = None
        updated_at = created_at
        if rand() < 0.85:
            seen = created + int((now - created) * rand())
            last_seen_at = _iso(seen, days)
            if rand() < 0.3:  # changed since it was created, some time before it was last seen
                updated_at = _iso(created + (seen - created) // 2, days)
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
            "updated_at": updated_at,
            "last_seen_at": last_seen_at,
        }
    return ids


def _iso(ms: int, days: dict[int, str]) -> str:
    """``store.iso_ms(ms)`` from shared pieces: the day's date, the second of the day, the milliseconds."""
    day, rest = divmod(ms, DAY_MS)
    prefix = days.get(day)
    if prefix is None:
        prefix = days[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
    second, millis = divmod(rest, 1000)
    return prefix + _SECONDS_OF_DAY[second] + _MILLIS[millis]


_SECONDS_OF_DAY = [f"{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = [f"{ms:03d}Z" for ms in range(1000)]
