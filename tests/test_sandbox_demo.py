"""The sandbox's demo data: the invariants every consumer relies on, and the live visitors."""

from __future__ import annotations

import asyncio
import random
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from backoffice.userbot.iso639 import LANGUAGES
from sandbox import demo, knowledge, visitors
from sandbox.registry import Context
from sandbox.runner import start_sandbox
from sandbox.store import BotState, SandboxStore, iso_ms

NOW = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z
NOW_ISO = iso_ms(NOW)
NINETY_DAYS_AGO = iso_ms(NOW - 90 * 86_400_000)
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
E164 = re.compile(r"\+[1-9]\d{6,14}")
CHATUSER_FIELDS = {
    "id",
    "client_ref",
    "name",
    "surname",
    "email",
    "phone",
    "channel",
    "language",
    "tags",
    "variables",
    "created_at",
    "updated_at",
    "last_seen_at",
}
CHANNELS = {"webchat", "whatsapp", "messenger", "instagram", "telegram", "api"}


def _seeded(chatusers: int = 300, seed: int = 0) -> tuple[SandboxStore, BotState]:
    store = SandboxStore()
    store.add_account("key")
    bot = store.add_bot("shop")
    demo.seed_demo(store, bot, chatusers=chatusers, seed=seed, now_ms=NOW)
    return store, bot


def test_chat_users_have_every_field_with_valid_values():
    _, bot = _seeded()
    users = list(bot.chatusers.values())

    assert len(users) == 300
    for user in users:
        assert set(user) == CHATUSER_FIELDS
        assert user["client_ref"] is None
        assert user["name"] and user["surname"]
        assert user["channel"] in CHANNELS
        assert user["language"] == "" or user["language"] in LANGUAGES
        assert ISO_MS.fullmatch(user["created_at"]) and ISO_MS.fullmatch(user["updated_at"])
        assert NINETY_DAYS_AGO <= user["created_at"] <= user["updated_at"] <= NOW_ISO
        if user["last_seen_at"] is not None:
            assert ISO_MS.fullmatch(user["last_seen_at"])
            assert user["created_at"] <= user["last_seen_at"] <= NOW_ISO
        if user["phone"] is not None:
            assert E164.fullmatch(user["phone"])
    assert 0 < sum(user["phone"] is None for user in users) < 150
    assert 0 < sum(user["email"] is None for user in users) < 60
    assert 0 < sum(user["last_seen_at"] is None for user in users) < 100
    assert len({user["channel"] for user in users}) == 6


def test_emails_phones_and_ids_are_unique_and_ids_follow_creation_order():
    _, bot = _seeded(chatusers=5000)
    users = list(bot.chatusers.values())
    emails = [user["email"].lower() for user in users if user["email"]]
    phones = [user["phone"] for user in users if user["phone"]]

    assert len(set(emails)) == len(emails)
    assert len(set(phones)) == len(phones)
    assert list(bot.chatusers) == [user["id"] for user in users]
    assert sorted(bot.chatusers) == list(bot.chatusers)
    assert sorted(users, key=lambda u: (u["created_at"], u["id"])) == users
    assert bot.ordered_chatuser_ids() == list(bot.chatusers)


def test_tags_and_variables_are_consistent_with_the_bot():
    _, bot = _seeded()
    users = list(bot.chatusers.values())

    assert len(bot.tags) == 12
    assert len({tag["name"].lower() for tag in bot.tags.values()}) == 12
    assert all(re.fullmatch(r"#[0-9a-f]{6}", tag["color"]) for tag in bot.tags.values())
    assert {name for name, _ in (("plan", 0), ("city", 0), ("orders", 0), ("score", 0))} == set(
        bot.variable_ids
    )
    assert bot.bot_variables == [
        {"name": "plan", "type": "string"},
        {"name": "city", "type": "string"},
        {"name": "orders", "type": "number"},
        {"name": "score", "type": "number"},
    ]
    for user in users:
        assert set(user["tags"]) <= set(bot.tags)
        assert len(set(user["tags"])) == len(user["tags"])
        names = [variable["name"] for variable in user["variables"]]
        assert len(set(names)) == len(names)
        for variable in user["variables"]:
            assert variable["id"] == bot.variable_ids[variable["name"]]
            assert isinstance(variable["value"], str) and variable["value"]
    assert sum(bool(user["tags"]) for user in users) > 100
    assert sum(bool(user["variables"]) for user in users) > 200
    assert bot.chatuser_index("variable_name") == {vid: name for name, vid in bot.variable_ids.items()}
    assert len(bot.chatuser_index("email")) == sum(user["email"] is not None for user in users)


def test_seeding_is_deterministic_for_one_seed():
    first, _ = _seeded(seed=7)
    again, _ = _seeded(seed=7)
    other, _ = _seeded(seed=8)

    assert first.to_json() == again.to_json()
    assert first.to_json() != other.to_json()


def test_the_seeded_state_survives_a_save_and_load():
    store, bot = _seeded()

    loaded = SandboxStore.from_json(store.to_json())

    assert loaded.bots["shop"] == bot
    assert loaded.next_id == store.next_id


def test_segments_interactions_and_automated_messages_are_valid_for_their_handlers():
    store, bot = _seeded()

    assert len(bot.segments) == 5
    for segment in bot.segments.values():
        assert set(segment) == {"id", "client_ref", "name", "match", "filters", "updated_at"}
        for rule in segment["filters"]:
            assert rule["field"] != "tag" or rule["value"] in bot.tags
    assert len(bot.interactions) == 30
    assert len({item["label"] for item in bot.interactions.values()}) == 30
    assert len(bot.automated_messages) == 4
    answer_types = set()
    for message in bot.automated_messages.values():
        # Saving the same fields through the handler must keep them exactly as seeded.
        ctx = Context(store=store, account=next(iter(store.accounts.values())), bot=bot, now_ms=NOW)
        fields = {k: message[k] for k in ("id", "conditions", "answers", "name", "trigger", "delay_seconds")}
        assert knowledge.automated_messages_save(ctx, fields) == message
        answer_types |= {answer["type"] for answer in message["answers"]}
        assert message["conditions"]
    assert answer_types == {"text", "buttons", "image"}


def test_sessions_have_histories_and_feedback_points_at_them():
    _, bot = _seeded()
    sessions = list(bot.sessions.values())
    statuses = [session["status"] for session in sessions]

    assert len(sessions) == 40
    assert (statuses.count("bot"), statuses.count("agent"), statuses.count("closed")) == (6, 4, 30)
    for session in sessions:
        messages = bot.messages[session["id"]]
        assert messages
        assert "." not in session["wspath"]
        assert session["chatuser_id"] in bot.chatusers
        assert session["channel"] == bot.chatusers[session["chatuser_id"]]["channel"]
        assert [m["at"] for m in messages] == sorted(m["at"] for m in messages)
        assert session["started_at"] <= messages[0]["at"]
        assert session["last_message_at"] == messages[-1]["at"] <= NOW_ISO
        assert (session["agent_id"] is not None) == any(m["from"] == "agent" for m in messages)
        if session["status"] == "agent":
            assert session["agent_id"] is not None
    assert len({session["wspath"] for session in sessions}) == 40
    assert bot.feedback
    for feedback in bot.feedback.values():
        assert 1 <= feedback["rating"] <= 5
        assert bot.sessions[feedback["session_id"]]["status"] == "closed"
        assert feedback["chatuser_id"] == bot.sessions[feedback["session_id"]]["chatuser_id"]


def test_sales_cover_90_days_up_to_today_and_leads_have_visits_and_people():
    _, bot = _seeded()
    today = datetime.fromtimestamp(NOW / 1000, tz=UTC).date()

    assert list(bot.sales_days) == [(today - timedelta(days=n)).isoformat() for n in range(89, -1, -1)]
    for day in bot.sales_days.values():
        assert 0 < day["orders"] < day["visits"]
        assert day["revenue"] > 0
    assert len(bot.leads) == 15
    for lid, lead in bot.leads.items():
        visits = bot.lead_visits[lid]
        assert lead["visits"] == len(visits) > 0
        assert lead["last_visit_at"] == visits[-1]["landed_at"]
        assert all(visit["landed_at"] < visit["left_at"] <= NOW_ISO for visit in visits)
        assert all(isinstance(tag, str) for tag in lead["tags"])
        assert bot.lead_people[lid]


def test_seeding_a_bot_twice_keeps_tags_variables_and_keys_unique():
    store, bot = _seeded(chatusers=100)

    demo.seed_demo(store, bot, chatusers=100, seed=1, now_ms=NOW)

    emails = [user["email"].lower() for user in bot.chatusers.values() if user["email"]]
    phones = [user["phone"] for user in bot.chatusers.values() if user["phone"]]
    assert len(bot.chatusers) == 200
    assert len(bot.tags) == 12
    assert len(bot.variable_ids) == 4 and len(bot.bot_variables) == 4
    assert len(set(emails)) == len(emails)
    assert len(set(phones)) == len(phones)


@pytest.mark.slow
def test_seeding_100000_chat_users_takes_bounded_time():
    started = time.perf_counter()
    _, bot = _seeded(chatusers=100_000)
    elapsed = time.perf_counter() - started

    print(f"seeded 100000 chat users in {elapsed:.2f} s")
    assert len(bot.chatusers) == 100_000
    assert elapsed < 60


def test_a_visitor_step_writes_in_a_live_session_and_says_what_to_publish():
    store, bot = _seeded()
    before = {sid: len(messages) for sid, messages in bot.messages.items()}

    events = visitors.visitor_step(store, random.Random(3))

    grown = {sid for sid, messages in bot.messages.items() if len(messages) != before.get(sid, 0)}
    message_events = [payload for _, event, payload in events if event == "chat.message"]
    assert len(grown) == 1
    session = bot.sessions[grown.pop()]
    assert session["status"] in ("bot", "agent")
    added = bot.messages[session["id"]][before.get(session["id"], 0) :]
    assert [m["from"] for m in added] == (["user", "bot"] if session["status"] == "bot" else ["user"])
    assert message_events == [{"session_id": session["id"], "message": m} for m in added]
    assert session["last_message_at"] == added[-1]["at"]
    assert all(sitekey == "shop" for sitekey, _, _ in events)


def test_visitor_steps_open_new_sessions_and_keep_the_live_ones_bounded():
    store, bot = _seeded()
    rng = random.Random(5)

    events = [event for _ in range(200) for event in visitors.visitor_step(store, rng)]

    live = [s for s in bot.sessions.values() if s["status"] != "closed"]
    opened = [p["session"] for _, e, p in events if e == "chat.session" and p["session"]["status"] == "bot"]
    assert opened
    assert len(live) <= visitors.MAX_LIVE_SESSIONS
    assert all(session["chatuser_id"] in bot.chatusers for session in opened)


def test_visitor_step_without_sessions_does_nothing():
    store = SandboxStore()
    store.add_bot("empty")

    assert visitors.visitor_step(store, random.Random(0)) == []


def test_run_live_visitors_publishes_chat_events():
    store, _ = _seeded()
    published: list[tuple[str, str, str, dict]] = []

    async def main() -> None:
        task = asyncio.create_task(
            visitors.run_live_visitors(store, lambda *event: published.append(event), interval_s=0.001)
        )
        while len(published) < 5:
            await asyncio.sleep(0.001)
        task.cancel()

    asyncio.run(asyncio.wait_for(main(), timeout=10))

    assert {(sitekey, topic) for sitekey, topic, _, _ in published} == {("shop", "chat")}
    assert {event for _, _, event, _ in published} <= {"chat.message", "chat.session"}


def test_demo_over_the_wire(open_ws):
    with start_sandbox(apikeys=("test-key",), sitekeys=("test-bot",), seed_demo=True) as handle:
        ws = open_ws(url=handle.url)
        users = ws.ok("chatusers.get", {"offset": 0, "limit": 5})
        tags = ws.ok("chatusers.get-bot-tags")["tags"]
        interactions = ws.ok("qeafilter.search.page-db-ai", {"offset": 0, "limit": 1})
        me = ws.call("who")["payload"]["id"]
        sessions = ws.call(f"robin sv {me} get sessions 100 0")["payload"]

    assert users["total"] == 300
    assert len(tags) == 12
    assert interactions["total"] == 30
    assert sessions["total"] >= 40
