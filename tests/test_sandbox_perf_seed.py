"""``python -m sandbox --seed-chatusers N``: synthetic chat users, as the handlers keep them."""

from __future__ import annotations

import collections
import re

from backoffice.userbot.client import UserbotClient
from backoffice.userbot.iso639 import LANGUAGES
from benchmarks._sandbox import sandbox_process
from sandbox import segments
from sandbox.chatuser_record import EMAIL, PHONE
from sandbox.seed import HISTORY_DAYS, SEED_TAGS, SEED_VARIABLES, seed_chatusers
from sandbox.store import BotState, SandboxStore, iso_ms

NOW = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z
YEAR_AGO = iso_ms(NOW - HISTORY_DAYS * 86_400_000)
CHANNELS = {"webchat", "whatsapp", "messenger", "instagram", "telegram", "api"}
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _seeded(count: int, seed: int = 0) -> tuple[SandboxStore, BotState]:
    store = SandboxStore()
    store.add_account("key")
    bot = store.add_bot("shop")
    seed_chatusers(store, bot, count, seed=seed, now_ms=NOW)
    return store, bot


def _indexes_as_rebuilt(bot: BotState) -> dict[str, dict[str, str]]:
    kept = {key: dict(index) for key, index in bot.index.items()}
    bot.reindex_chatusers()
    rebuilt = {key: dict(index) for key, index in bot.index.items()}
    bot.index.update(kept)
    return rebuilt


def test_seeded_chat_users_are_realistic_and_unique():
    _, bot = _seeded(20_000)
    users = list(bot.chatusers.values())

    assert len(users) == 20_000
    emails = [u["email"] for u in users if u["email"] is not None]
    phones = [u["phone"] for u in users if u["phone"] is not None]
    assert len({e.lower() for e in emails}) == len(emails)
    assert len(set(phones)) == len(phones)
    assert all(EMAIL.fullmatch(e) for e in emails) and all(PHONE.fullmatch(p) for p in phones)
    assert 0.93 < len(emails) / 20_000 < 0.97
    assert 0.72 < len(phones) / 20_000 < 0.78
    assert {u["channel"] for u in users} == CHANNELS
    assert {u["language"] for u in users} == {"it", "en", "es", "de", "fr", ""}
    assert all(u["language"] == "" or u["language"] in LANGUAGES for u in users)
    assert all(u["name"] and u["surname"] and u["client_ref"] is None for u in users)
    tag_counts = collections.Counter(len(u["tags"]) for u in users)
    variable_counts = collections.Counter(len(u["variables"]) for u in users)
    assert set(tag_counts) == {0, 1, 2, 3} and set(variable_counts) == {0, 1, 2, 3}
    for user in users:
        assert len(set(user["tags"])) == len(user["tags"]) and set(user["tags"]) <= set(bot.tags)
        names = [v["name"] for v in user["variables"]]
        assert len(set(names)) == len(names)
        assert all(v["id"] == bot.variable_ids[v["name"]] and v["value"] for v in user["variables"])
        for key in ("created_at", "updated_at", "last_seen_at"):
            if user[key] is not None:
                assert iso_ms(segments.parse_instant(user[key])) == user[key]  # type: ignore[arg-type]
        assert YEAR_AGO <= user["created_at"] <= user["updated_at"] <= iso_ms(NOW)
        assert user["last_seen_at"] is None or user["created_at"] <= user["last_seen_at"] <= iso_ms(NOW)
    assert users[0]["created_at"] < iso_ms(NOW - 360 * 86_400_000)
    assert users[-1]["created_at"] > iso_ms(NOW - 86_400_000)


def test_the_seeded_bot_is_as_the_handlers_keep_it():
    store, bot = _seeded(5_000)

    assert [tag["name"] for tag in bot.tags.values()] == [name for name, _ in SEED_TAGS]
    assert bot.bot_variables == [{"name": name, "type": kind} for name, kind, _ in SEED_VARIABLES]
    assert list(bot.variable_ids) == [name for name, _, _ in SEED_VARIABLES]
    assert bot.indexed_count == 5_000 and bot.order_stale is False
    assert bot.chatuser_order == sorted(bot.chatusers, key=lambda c: (bot.chatusers[c]["created_at"], c))
    assert bot.chatuser_order == list(bot.chatusers)
    assert bot.index == _indexes_as_rebuilt(bot)
    assert len(bot.index["email"]) == sum(u["email"] is not None for u in bot.chatusers.values())
    assert bot.last_stamp_ms == NOW
    assert store.new_id() == f"{int(bot.chatuser_order[-1], 16) + 1:024x}"


def test_seeding_is_deterministic_and_a_second_seed_keeps_keys_unique():
    first, _ = _seeded(2_000, seed=3)
    again, _ = _seeded(2_000, seed=3)
    assert first.to_json() == again.to_json()

    store, bot = _seeded(2_000, seed=3)
    seed_chatusers(store, bot, 2_000, seed=4, now_ms=NOW + 1000)

    users = list(bot.chatusers.values())
    emails = [u["email"].lower() for u in users if u["email"]]
    phones = [u["phone"] for u in users if u["phone"]]
    assert len(users) == 4_000
    assert (len(set(emails)), len(set(phones))) == (len(emails), len(phones))
    assert len(bot.tags) == len(SEED_TAGS) and len(bot.bot_variables) == len(SEED_VARIABLES)
    assert bot.ordered_chatuser_ids() == sorted(
        bot.chatusers, key=lambda c: (bot.chatusers[c]["created_at"], c)
    )
    assert bot.index == _indexes_as_rebuilt(bot)


def test_the_seed_option_serves_every_seeded_chat_user_in_order():
    with sandbox_process(apikey="seed-key", sitekey="seed-bot", extra=["--seed-chatusers", "2500"]) as url:
        with UserbotClient(url, "seed-key", "seed-bot", timeout=30) as client:
            pages = [
                client.call("chatusers.get", {"offset": offset, "limit": 1000}) for offset in (0, 1000, 2000)
            ]
            tags = client.call("chatusers.get-bot-tags")["tags"]
            catalogue = client.call("bot.get-vars")["variables"]
            created = client.call("chatusers.create", [{"name": "After", "email": "after@example.com"}])

    assert [page["total"] for page in pages] == [2500, 2500, 2500]
    users = [user for page in pages for user in page["chatusers"]]
    assert [len(page["chatusers"]) for page in pages] == [1000, 1000, 500]
    ids = [user["id"] for user in users]
    assert len(set(ids)) == 2500
    assert sorted(users, key=lambda u: (u["created_at"], u["id"])) == users
    emails = [u["email"] for u in users if u["email"]]
    assert len(set(emails)) == len(emails)
    assert sorted(tag["name"] for tag in tags) == sorted(name for name, _ in SEED_TAGS)
    assert catalogue == [{"name": name, "type": kind} for name, kind, _ in SEED_VARIABLES]
    assert created["chatusers"][0]["created_at"] > users[-1]["updated_at"]
