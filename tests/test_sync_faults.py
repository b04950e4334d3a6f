"""The sync engine's guarantees under faults, with the real parts: PostgreSQL, Redis, Celery
worker processes that get killed, and the sandbox Userbot on loopback dropping connections
and rate limiting. Every test ends with both sides compared chat user by chat user.

Changes are pushed by worker processes through the ``sync.push`` task, as in production; the
test queues the task where the periodic sweep would.
"""

from __future__ import annotations

import csv
import io
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.outbox import mark_changed
from backoffice.userbot.models import Bot
from chatusers import services
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable
from sandbox.runner import SandboxHandle, start_sandbox
from tests.conftest import APIKEY, SITEKEY
from tests.sync_harness import (
    RecordingProxy,
    SandboxReader,
    Sent,
    Workers,
    differences,
    drain,
    enqueue,
    left_in_outbox,
    open_entries,
    queued_tasks,
    real_parts_missing,
    reset_broker,
)
from tests.sync_helpers import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(real_parts_missing() is not None, reason=real_parts_missing() or ""),
]

CHANNELS = ("webchat", "whatsapp", "messenger", "instagram", "telegram", "api")
LANGUAGES = ("it", "en", "fr", "")


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def broker() -> Iterator[None]:
    """An empty broker before and after: no task of one test ever runs in another."""
    reset_broker()
    yield
    reset_broker()


@pytest.fixture
def make_workers(tmp_path: Any, transactional_db: Any, broker: None) -> Iterator[Any]:
    """``make_workers(**env)``: a set of worker processes; every one is stopped after the test,
    before the test database is emptied."""
    made: list[Workers] = []

    def make(**env: Any) -> Workers:
        workers = Workers(tmp_path, **env)
        made.append(workers)
        return workers

    yield make
    for workers in made:
        workers.stop_all()


def bot_for(url: str) -> Bot:
    bot = Bot(name="Fault bot", sitekey=SITEKEY, server_url=url)
    bot.set_apikey(APIKEY)
    bot.save()
    BotSync.objects.create(bot=bot)  # where the runs record their status
    return bot


@pytest.fixture
def reader(sandbox: SandboxHandle) -> Iterator[SandboxReader]:
    connection = SandboxReader(sandbox.url, APIKEY, SITEKEY)
    yield connection
    connection.close()


# --- local data ----------------------------------------------------------------------------


def make_tags(bot: Bot, names: list[str]) -> list[Tag]:
    return Tag.objects.bulk_create(Tag(bot=bot, name=name, color="#1e88e5") for name in names)


def add_chatusers(
    bot: Bot, count: int, *, first: int = 0, tags: list[Tag] = (), prefix: str = "u"
) -> list[int]:
    """``count`` new chat users with fields, tags and variables, queued for the push in one
    transaction (as a bulk service would); returns their pks in order."""
    with transaction.atomic():
        users = ChatUser.objects.bulk_create(
            [
                ChatUser(
                    bot=bot,
                    name=f"Name{i}",
                    surname=f"Surname{i}" if i % 5 else "",
                    email=f"{prefix}{i}@example.com" if i % 7 else None,
                    phone=f"+39333{i:07d}" if i % 3 == 0 else None,
                    channel=CHANNELS[i % len(CHANNELS)],
                    language=LANGUAGES[i % len(LANGUAGES)],
                )
                for i in range(first, first + count)
            ],
            batch_size=1000,
        )
        if tags:
            ChatUserTag.objects.bulk_create(
                [ChatUserTag(chatuser=u, tag=tags[i % len(tags)]) for i, u in enumerate(users) if i % 2 == 0],
                batch_size=1000,
            )
        Variable.objects.bulk_create(
            [Variable(chatuser=u, name="plan", value=f"plan-{i % 4}") for i, u in enumerate(users) if i % 3],
            batch_size=1000,
        )
        mark_changed(users)
    return [u.pk for u in users]


def change_chatusers(pks: list[int], tags: list[Tag]) -> None:
    """Change every given chat user in one of four ways, by its position: 0 a name and the
    language, 1 a tag given, 2 every tag taken and a variable set, 3 a variable removed and the
    phone changed; queued in one transaction, in bulk."""
    with transaction.atomic():
        users = list(ChatUser.objects.filter(pk__in=pks).order_by("pk"))
        way = {w: [(i, u) for i, u in enumerate(users) if i % 4 == w] for w in range(4)}
        for _, user in way[0]:
            user.name, user.language = f"Renamed{user.pk}", "de"
        ChatUserTag.objects.bulk_create(
            [ChatUserTag(chatuser=u, tag=tags[(i + 1) % len(tags)]) for i, u in way[1]], ignore_conflicts=True
        )
        ChatUserTag.objects.filter(chatuser__in=[u for _, u in way[2]]).delete()
        Variable.objects.filter(chatuser__in=[u for _, u in way[2]], name="score").delete()
        Variable.objects.bulk_create([Variable(chatuser=u, name="score", value=str(i)) for i, u in way[2]])
        Variable.objects.filter(chatuser__in=[u for _, u in way[3]], name="plan").delete()
        for _, user in way[3]:
            user.phone = f"+39444{user.pk:07d}"
        ChatUser.objects.bulk_update(users, ["name", "language", "phone"], batch_size=1000)
        mark_changed(users)


def pull_done(bot: Bot, *, after: Any) -> BotSync:
    """The bot's sync status once a pull that started after ``after`` has finished."""

    def finished() -> BotSync | None:
        state = BotSync.objects.get(bot=bot)
        started = state.pull_started_at is not None and (after is None or state.pull_started_at > after)
        return state if started and state.pull_lease_until is None else None

    return wait_until(finished, timeout=60, what="a pull to finish")


# --- 1. kill -9 ----------------------------------------------------------------------------

KILLS = 20
STALL_S = 60


def test_kill_9_at_random_moments_of_a_10000_change_push_ends_with_exactly_the_local_state(
    sandbox, reader, make_workers, chaos_seed
):
    seed = chaos_seed
    rng = random.Random(seed)
    bot = bot_for(sandbox.url)
    workers = make_workers(SYNC_PUSH_BATCH=100)
    tags = make_tags(bot, ["gold", "Silver", "lead"])
    existing = add_chatusers(bot, 2000, tags=tags)
    workers.start()
    drain(bot, workers)
    assert differences(bot, reader) == []
    change_chatusers(existing, tags)
    add_chatusers(bot, 8000, first=2000, tags=tags)
    assert open_entries(bot) == 10_000

    # Each kill comes once a random share of the work is done since the last (none at all up
    # to about a batch) and a random fraction of a batch later: before, during or after a send,
    # while a batch is recorded, between two. Every second one kills only the pool process
    # running the push (Celery starts another and hands the task out again); the others the
    # whole worker, whose task is lost. When no push runs, one is queued (the sweep's job), and
    # it takes back the claims of the killed ones once their lease has run out.
    kills: list[tuple[str, int, int]] = []  # (what was killed, its entries in flight, entries open)
    mark, target, jitter = open_entries(bot), rng.randrange(150), rng.uniform(0, 0.05)
    queued_at = 0.0
    # A guard against a push that stalls, not a speed test: on a busy machine a worker takes
    # seconds to start and connect, so the time allowed runs from the last kill.
    deadline = time.monotonic() + STALL_S
    while len(kills) < KILLS:
        assert time.monotonic() < deadline, (
            f"no progress for {STALL_S} s after kill {len(kills)} (seed {seed})\n{workers.logs()}"
        )
        assert open_entries(bot), f"the push ended before kill {len(kills) + 1} (seed {seed})"
        while len(workers.alive) < 2:
            workers.start(ready=False)  # a spare starts while another one pushes
        holders = workers.holders(bot)
        if not holders and not queued_tasks() and time.monotonic() - queued_at > 1:
            enqueue("sync.push", bot.pk)
            queued_at = time.monotonic()
        if not holders or open_entries(bot) > mark - target:
            time.sleep(0.02)
            continue
        time.sleep(jitter)
        holders = workers.holders(bot)
        if not holders:
            continue
        pid = rng.choice(sorted(holders))
        worker, in_flight = holders[pid]
        what = "pool process" if len(kills) % 2 == 0 else "worker"
        if what == "pool process":
            worker.kill_pool_process(pid)
        else:
            worker.kill()
        kills.append((what, in_flight, open_entries(bot)))
        deadline = time.monotonic() + STALL_S
        mark, target, jitter = open_entries(bot), rng.randrange(150), rng.uniform(0, 0.05)
    if not workers.alive:
        workers.start(ready=False)
    drain(bot, workers, timeout=90)

    assert differences(bot, reader) == [], f"seed {seed}, kills {kills}"
    assert left_in_outbox(bot) == []
    assert ChatUser.objects.filter(bot=bot).count() == 10_000
    # Every kill hit a process with claims in flight, and the push was not over at the last.
    assert min(in_flight for _, in_flight, _ in kills) > 0, kills
    assert kills[-1][2] > 0, kills
    # Nothing the kills interrupted left a wrong snapshot behind: reading Userbot back finds
    # only its own echo of the push, nothing to change here.
    enqueue("sync.pull", bot.pk)
    pulled = pull_done(bot, after=None)
    assert (pulled.pull_error, pulled.pull_report.get("chatusers", {})) == ("", {}), pulled.pull_report
    assert differences(bot, reader) == []


# --- 2. a sandbox that drops connections and rate limits -----------------------------------


@pytest.fixture
def faulty_sandbox() -> Iterator[SandboxHandle]:
    """Every 7th request of a connection is applied and then the connection drops, unanswered;
    every 5th is answered 429."""
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), drop_every=7, rate_limit_every=5) as handle:
        yield handle


@pytest.fixture
def faulty_reader(faulty_sandbox: SandboxHandle) -> Iterator[SandboxReader]:
    connection = SandboxReader(faulty_sandbox.url, APIKEY, SITEKEY)
    yield connection
    connection.close()


def test_creates_updates_tag_changes_and_deletes_converge_through_drops_and_rate_limits(
    faulty_sandbox, faulty_reader, make_workers, operator
):
    bot = bot_for(faulty_sandbox.url)
    workers = make_workers(SYNC_PUSH_BATCH=500)
    tags = make_tags(bot, ["gold", "Silver", "lead"])
    first = add_chatusers(bot, 2000, tags=tags)
    workers.start()
    drain(bot, workers)
    assert differences(bot, faulty_reader) == []

    change_chatusers(first[:1200], tags)
    services.chatusers_delete(chatusers=ChatUser.objects.filter(pk__in=first[1200:1500]), actor=operator)
    fresh = add_chatusers(bot, 800, first=2000, tags=tags)
    # Deleted before any push of them started: nothing of them may reach Userbot.
    services.chatusers_delete(chatusers=ChatUser.objects.filter(pk__in=fresh[:100]), actor=operator)
    assert open_entries(bot) == 1200 + 300 + 700
    drain(bot, workers)

    assert differences(bot, faulty_reader) == []
    assert left_in_outbox(bot) == []
    assert ChatUser.objects.filter(bot=bot).count() == 2000 - 300 + 700
    # The faults did happen: the workers lost their connection to Userbot.
    assert re.search(r"Userbot connection to \S+ lost", workers.logs(tail=10**9))


# --- 3. two workers never send one change twice --------------------------------------------


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxHandle]:
    """Answers 20 ms late, like a network in between: a push takes long enough that two
    workers are at it together."""
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), latency_ms=20) as handle:
        yield handle


@pytest.fixture
def slow_reader(slow_sandbox: SandboxHandle) -> Iterator[SandboxReader]:
    connection = SandboxReader(slow_sandbox.url, APIKEY, SITEKEY)
    yield connection
    connection.close()


@pytest.fixture
def proxy(slow_sandbox: SandboxHandle) -> Iterator[RecordingProxy]:
    recorder = RecordingProxy(slow_sandbox.url).start()
    yield recorder
    recorder.stop()


def import_rows(sent: list[Sent]) -> list[list[str]]:
    """The rows (header first) of each ``chatusers.import`` request."""
    return [
        list(csv.reader(io.StringIO(s.payload["csv"]))) for s in sent if s.operation == "chatusers.import"
    ]


def test_two_workers_send_each_create_and_each_update_exactly_once(proxy, slow_reader, make_workers):
    bot = bot_for(proxy.url)
    workers = make_workers(SYNC_PUSH_BATCH=500, SYNC_CLAIM_LEASE_S=60)
    tags = make_tags(bot, ["gold", "Silver", "lead"])
    pks = add_chatusers(bot, 3000, tags=tags)
    one, two = workers.start(), workers.start()
    enqueue("sync.push", bot.pk)
    enqueue("sync.push", bot.pk)
    drain(bot, workers)

    creates = Counter(item["client_ref"] for s in proxy.requests("chatusers.create") for item in s.payload)
    refs = set(ChatUser.objects.filter(bot=bot).values_list("client_ref", flat=True))
    assert set(creates) == refs and set(creates.values()) == {1}
    pushed = [sum(int(r.split()[1]) for r in w.results("sync.push")) for w in (one, two)]
    assert sum(pushed) == 3000 and min(pushed) > 0, pushed  # both workers took a share
    # A tag goes in the create once Userbot knows it, else in an add-tag after it: once either way.
    by_ref = dict(ChatUser.objects.filter(bot=bot).values_list("client_ref", "sync__remote_id"))
    tagged = Counter(
        by_ref[item["client_ref"]]
        for s in proxy.requests("chatusers.create")
        for item in s.payload
        for _ in item.get("tags", ())
    )
    tagged.update(rid for s in proxy.requests("chatusers.add-tag") for rid in s.payload["chatuser_ids"])
    with_tags = set(
        ChatUserTag.objects.filter(chatuser__bot=bot).values_list("chatuser__sync__remote_id", flat=True)
    )
    assert set(tagged) == with_tags and len(with_tags) == 1500 and set(tagged.values()) == {1}
    assert differences(bot, slow_reader) == []

    mark = len(proxy.sent)
    change_chatusers(pks, tags)
    enqueue("sync.push", bot.pk)
    enqueue("sync.push", bot.pk)
    drain(bot, workers)

    sent = proxy.sent[mark:]
    remote = dict(ChatUser.objects.filter(bot=bot).values_list("pk", "sync__remote_id"))
    changed_in = {way: [remote[pk] for i, pk in enumerate(sorted(pks)) if i % 4 == way] for way in range(4)}
    rows = Counter(row[0] for request in import_rows(sent) for row in request[1:])
    assert set(rows.values()) == {1}
    assert set(rows) == {*changed_in[0], *changed_in[2], *changed_in[3]}
    added = Counter(
        rid for s in sent if s.operation == "chatusers.add-tag" for rid in s.payload["chatuser_ids"]
    )
    assert added == Counter(changed_in[1])
    removed = Counter(
        rid for s in sent if s.operation == "chatusers.remove-tag" for rid in s.payload["chatuser_ids"]
    )
    # Way 1 gives a tag to chat users that had none; way 2 takes the one tag they had.
    assert removed == Counter(changed_in[2])
    assert [s.operation for s in sent if s.operation == "chatusers.create"] == []
    assert differences(bot, slow_reader) == []
    assert left_in_outbox(bot) == []


# --- 4. a permanent error ------------------------------------------------------------------


def test_a_refused_change_goes_to_dead_letter_with_its_reason_and_every_other_change_arrives(
    sandbox, reader, make_workers, operator
):
    bot = bot_for(sandbox.url)
    workers = make_workers(SYNC_PUSH_BATCH=200)
    held = reader.ok(
        "chatusers.create",
        [{"name": "Held", "email": "held@example.com"}, {"name": "Also held", "email": "also@example.com"}],
    )["chatusers"]
    tags = make_tags(bot, ["gold", "Silver"])
    pks = add_chatusers(bot, 600, tags=tags)
    workers.start()
    drain(bot, workers)
    held_ids = sorted(u["id"] for u in held)
    only_there = [f"sandbox {rid} (None) has no local chat user" for rid in held_ids]  # no pull here
    assert differences(bot, reader) == only_there

    # A new chat user whose email Userbot gives to another (in another case), and an existing
    # one changed to such an email: both refused for good. Around them, ordinary changes.
    duplicate = services.chatuser_create(bot=bot, actor=operator, name="Dup", email="HELD@example.com")
    clash = ChatUser.objects.get(pk=pks[10])
    old_email = clash.email
    services.chatuser_update(chatuser=clash, actor=operator, email="also@example.com", name="Clash")
    change_chatusers(pks[100:400], tags)
    add_chatusers(bot, 300, first=600, tags=tags)
    drain(bot, workers)

    dead = {entry[1]: entry[2] for entry in left_in_outbox(bot)}
    assert dead == {
        duplicate.pk: "Userbot refused it: email: already belongs to another chat user",
        clash.pk: "Userbot refused the change: the row's email belongs to another chat user than the one it"
        " updates",
    }
    assert set(OutboxEntry.objects.values_list("state", flat=True)) == {"dead"}
    for chatuser in (duplicate, clash):
        chatuser.refresh_from_db()
        assert (chatuser.sync_state, chatuser.sync_error) == ("error", dead[chatuser.pk])
    assert differences(bot, reader) == sorted(
        [
            f"local #{duplicate.pk} has no remote id",
            # Userbot took neither the email nor the name: the import row was refused whole.
            f"local #{clash.pk} email: 'also@example.com' here, {old_email!r} on the sandbox",
            f"local #{clash.pk} is error, not synced",
            f"local #{clash.pk} name: 'Clash' here, 'Name10' on the sandbox",
            *only_there,
        ]
    )


# --- 5. edits on both sides ----------------------------------------------------------------


def test_edits_on_both_sides_to_different_chat_users_and_fields_converge_after_a_pull_and_a_push(
    sandbox, reader, make_workers, operator
):
    bot = bot_for(sandbox.url)
    workers = make_workers()
    tags = make_tags(bot, ["gold", "Silver"])
    pks = add_chatusers(bot, 300, tags=tags)
    workers.start()
    drain(bot, workers)
    assert differences(bot, reader) == []
    users = {pk: ChatUser.objects.get(pk=pk) for pk in pks}
    rid = [users[pk].remote_id for pk in pks]
    gold = next(t["id"] for t in reader.ok("chatusers.get-bot-tags")["tags"] if t["name"] == "gold")

    # On Userbot: names (0-49 and 200-209), a variable (50-59), a new tag (60-69), a tag taken
    # off (the gold ones of 70-99), deletions (80-84: gold or not), two chat users created there.
    lines = [f"{rid[i]},Theirs{i}" for i in [*range(50), *range(200, 210)]]
    reader.ok("chatusers.import", {"filename": "ub.csv", "csv": "id,name\r\n" + "\r\n".join(lines) + "\r\n"})
    for i in range(50, 60):
        reader.ok(
            "chatusers.set-variable", {"chatuser_id": rid[i], "variable": {"name": "source", "value": "ub"}}
        )
    reader.ok(
        "chatusers.add-tag", {"chatuser_ids": rid[60:70], "tag": {"name": "vip-remote", "color": "#123456"}}
    )
    reader.ok("chatusers.remove-tag", {"chatuser_ids": rid[70:100], "element_id": gold})
    reader.ok("chatusers.delete", {"ids": rid[80:85]})
    made_there = reader.ok(
        "chatusers.create",
        [
            {"name": "Remote one", "email": "remote1@example.com", "tags": ["vip-remote"]},
            {"name": "Remote two", "phone": "+15550001111", "variables": [{"name": "x", "value": "1"}]},
        ],
    )["chatusers"]

    # Here: surnames (100-149 and 200-209, whose names changed there), a new tag (150-159), a
    # variable (160-169), deletions (170-174), two chat users created here.
    for i in [*range(100, 150), *range(200, 210)]:
        services.chatuser_update(chatuser=users[pks[i]], actor=operator, surname=f"Ours{i}")
    vip = services.tag_create(bot=bot, name="vip-local", color="#654321", actor=operator)
    services.chatuser_add_tag(tag=vip, chatusers=ChatUser.objects.filter(pk__in=pks[150:160]), actor=operator)
    for i in range(160, 170):
        services.chatuser_set_variable(chatuser=users[pks[i]], name="source", value="bo", actor=operator)
    services.chatusers_delete(chatusers=ChatUser.objects.filter(pk__in=pks[170:175]), actor=operator)
    made_here = [
        services.chatuser_create(
            bot=bot, actor=operator, name="Local one", email="local1@example.com", tags=[vip]
        ),
        services.chatuser_create(bot=bot, actor=operator, name="Local two", variables={"y": "2"}),
    ]

    enqueue("sync.pull", bot.pk)
    enqueue("sync.push", bot.pk)
    pulled = pull_done(bot, after=None)
    drain(bot, workers)

    assert differences(bot, reader) == []
    assert left_in_outbox(bot) == []
    # Userbot changed 92 chat users here (50 + 10 names, 10 variables, 10 tags given, and 12 of
    # 70-99 lost gold: the even ones, without the three deleted), made 2 and deleted 5.
    assert pulled.pull_error == ""
    assert pulled.pull_report["chatusers"] == {"updated": 92, "created": 2, "deleted": 5}, pulled.pull_report
    assert not SyncConflict.objects.exists()
    both = ChatUser.objects.get(pk=pks[205])
    assert (both.name, both.surname) == ("Theirs205", "Ours205")
    assert not ChatUser.objects.filter(pk__in=pks[80:85] + pks[170:175]).exists()
    from_there = ChatUser.objects.filter(sync__remote_id__in=[u["id"] for u in made_there])
    assert sorted(from_there.values_list("name", flat=True)) == ["Remote one", "Remote two"]
    assert all(ChatUser.objects.get(pk=u.pk).remote_id for u in made_here)
    assert ChatUser.objects.filter(bot=bot).count() == 300 - 5 - 5 + 2 + 2

    # A second pull finds nothing left to change here.
    enqueue("sync.pull", bot.pk)
    again = pull_done(bot, after=pulled.pull_started_at)
    assert (again.pull_error, again.pull_report.get("chatusers", {})) == ("", {}), again.pull_report
    assert differences(bot, reader) == []
    assert left_in_outbox(bot) == []


# --- a deletion racing the push that confirms the create -----------------------------------


def test_a_chat_user_deleted_after_a_push_confirmed_it_unseen_is_deleted_on_userbot(
    sandbox, reader, make_workers, operator
):
    """The deletion of chat users loaded before a relay confirmed their creates: their copy here
    still has no remote id, and their outbox entry is gone with the confirmation. This is what a
    bulk delete meets when a relay finishes a batch between loading a chunk and queueing its
    deletion; here the chat users are loaded before the push so that the order is certain."""
    bot = bot_for(sandbox.url)
    workers = make_workers()
    loaded = [
        services.chatuser_create(bot=bot, actor=operator, name=f"Early{i}", email=f"early{i}@example.com")
        for i in range(3)
    ]
    workers.start()
    drain(bot, workers)
    assert differences(bot, reader) == []
    assert [c.remote_id for c in loaded] == [None, None, None]  # as the deleting code holds them

    for chatuser in loaded:
        services.chatuser_delete(chatuser=chatuser, actor=operator)
    drain(bot, workers)

    assert not ChatUser.objects.filter(bot=bot).exists()
    assert differences(bot, reader) == []
    assert left_in_outbox(bot) == []
