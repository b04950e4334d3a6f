"""A pull that finds nothing changed costs what reading costs: each chat user of Userbot is
compared in bulk with its sync record's digest, and only one that differs goes further.

The digest is the test that is exact: a change Userbot makes without moving ``updated_at``
(which the contract promises it moves, and a peer may not) is found by it all the same, and
the tests below change the sandbox's chat users behind the protocol's back to prove it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.sync.kinds import parse_time
from backoffice.sync.models import BotSync, OutboxEntry
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.sync.stage import Workers
from backoffice.userbot.errors import ConnectionLost
from chatusers import services
from chatusers.models import ChatUser, ChatUserSync
from chatusers.sync import pull as pull_module
from chatusers.sync.documents import wire_digest
from tests.conftest import SITEKEY, RawWs

pytestmark = pytest.mark.django_db(transaction=True)

# A statement that changes a chat user, its record, tags, variables, history (the admin's log)
# or the outbox.
WRITES = re.compile(
    r'^\s*(WITH\b.*?)?\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(chatusers_\w+|sync_outboxentry|django_admin_log)\b',
    re.IGNORECASE | re.DOTALL,
)


def _seed(ws: RawWs) -> list[dict[str, Any]]:
    ws.ok(
        "chatusers.create",
        [
            {
                "name": f"User {n}",
                "surname": "Rossi",
                "email": f"user{n}@example.com",
                "tags": ["lead"] if n % 2 else ["vip", "lead"],
                "variables": [{"name": "plan", "value": "gold"}, {"name": "city", "value": "Roma"}],
            }
            for n in range(12)
        ],
    )
    return ws.ok("chatusers.get", {"offset": 0, "limit": 1000})["chatusers"]


@pytest.fixture(autouse=True)
def _batches_applied_inline(monkeypatch):
    """Batches applied on this thread's connection, where the statements are captured (on
    PostgreSQL a scan applies them on threads of their own, with the same statements)."""
    monkeypatch.setattr(pull_module, "Workers", lambda size, threaded: Workers(size, threaded=False))


def _writes_of_a_pull(bot: Any) -> tuple[dict[str, Any], list[str]]:
    versions = _row_versions()
    with CaptureQueriesContext(connection) as queries:
        report = pull_bot(bot)
    assert report is not None
    writes = [q["sql"] for q in queries.captured_queries if WRITES.match(q["sql"])]
    if not writes:
        assert _row_versions() == versions  # and no other connection wrote one either
    return report, writes


def _row_versions() -> list[Any]:
    """Each chat user's and record's row version where the database keeps one (PostgreSQL's
    ``xmin`` moves with any write of the row, even of the same values)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.xmin::text, s.xmin::text FROM chatusers_chatuser c"
            " JOIN chatusers_chatusersync s ON s.chatuser_id = c.id ORDER BY c.id"
        )
        return cursor.fetchall()


def _quietly(sandbox: Any, chatuser_id: str) -> dict[str, Any]:
    """The sandbox's own copy of a chat user, to change behind the protocol's back: no event,
    and ``updated_at`` left where it was."""
    return sandbox.store.bots[SITEKEY].chatusers[chatuser_id]


def test_a_pull_of_an_unchanged_bot_writes_nothing(bot, raw_ws):
    _seed(raw_ws)
    pull_bot(bot)
    records = list(ChatUserSync.objects.order_by("pk").values_list("pk", "synced_at", "wire_digest"))
    assert all(digest is not None for _, _, digest in records)

    report, writes = _writes_of_a_pull(bot)

    assert writes == []
    assert report.get("chatusers", {}) == {}
    assert list(ChatUserSync.objects.order_by("pk").values_list("pk", "synced_at", "wire_digest")) == records
    assert not OutboxEntry.objects.exists()


def test_chat_users_pushed_from_here_are_not_looked_at_again_by_the_next_pull(bot, operator, raw_ws):
    for n in range(3):
        services.chatuser_create(bot=bot, actor=operator, name=f"Local {n}", variables={"plan": "gold"})
    push_pending(bot)
    pull_bot(bot)  # the tags' and the other kinds' first read

    # The create's answer held each whole chat user: its digest is the one the list shows.
    report, writes = _writes_of_a_pull(bot)

    assert writes == []
    assert report.get("chatusers", {}) == {}


QUIET_CHANGES = {
    "name": lambda user, tags: user.update(name="Renamed"),
    "surname": lambda user, tags: user.update(surname="Bianchi"),
    "channel": lambda user, tags: user.update(channel="telegram"),
    "language": lambda user, tags: user.update(language="fr"),
    "a tag more": lambda user, tags: user["tags"].append(tags["vip"]),
    "a tag less": lambda user, tags: user.update(tags=[]),
    "a variable's value": lambda user, tags: user["variables"][0].update(value="platinum"),
    "a variable more": lambda user, tags: user["variables"].append(
        {"id": "v-new", "name": "vat", "value": "IT1"}
    ),
    "last seen": lambda user, tags: user.update(last_seen_at="2031-01-02T03:04:05.678Z"),
}


@pytest.mark.parametrize("change", list(QUIET_CHANGES))
def test_a_change_userbot_made_without_moving_updated_at_is_found_by_the_digest(bot, raw_ws, sandbox, change):
    users = _seed(raw_ws)
    pull_bot(bot)
    tags = {t["name"]: t["id"] for t in raw_ws.ok("chatusers.get-bot-tags")["tags"]}
    target = next(u for u in users if tags["vip"] not in u["tags"])
    quiet = _quietly(sandbox, target["id"])
    stamp = quiet["updated_at"]
    QUIET_CHANGES[change](quiet, tags)
    assert quiet["updated_at"] == stamp

    report = pull_bot(bot)

    here = ChatUser.objects.get(sync__remote_id=target["id"])
    after = raw_ws.ok("chatusers.get", {"offset": 0, "limit": 1000})["chatusers"]
    [theirs] = [u for u in after if u["id"] == target["id"]]
    assert (here.name, here.surname, here.channel, here.language) == (
        theirs["name"],
        theirs["surname"],
        theirs["channel"],
        theirs["language"],
    )
    assert sorted(t.remote_id for t in here.tags.all()) == sorted(theirs["tags"])
    assert {v.name: v.value for v in here.variables.all()} == {
        v["name"]: v["value"] for v in theirs["variables"]
    }
    assert here.last_seen_at == parse_time(theirs["last_seen_at"])
    assert here.sync.wire_digest == wire_digest(theirs)
    # Only that one was looked at, and the next pull is idle again.
    assert report.get("chatusers", {}).get("created", 0) == 0
    assert _writes_of_a_pull(bot)[1] == []


def test_a_chat_user_deleted_and_one_created_on_userbot_are_found(bot, raw_ws):
    users = _seed(raw_ws)
    pull_bot(bot)
    raw_ws.ok("chatusers.delete", {"ids": [users[0]["id"]]})
    raw_ws.ok("chatusers.create", [{"name": "Newcomer", "email": "new@example.com"}])

    report = pull_bot(bot)

    assert report["chatusers"] == {"created": 1, "deleted": 1}
    assert not ChatUser.objects.filter(sync__remote_id=users[0]["id"]).exists()
    assert ChatUser.objects.get(email="new@example.com").sync.wire_digest is not None
    assert _writes_of_a_pull(bot)[1] == []


def test_records_without_a_digest_learn_it_once_without_touching_the_chat_users(bot, raw_ws):
    """Records from before digests (or a push whose answer held no whole chat user): a pull
    trusts an unchanged ``updated_at`` as it always did and keeps the digest for the next."""
    _seed(raw_ws)
    pull_bot(bot)
    ChatUserSync.objects.update(wire_digest=None)

    report, writes = _writes_of_a_pull(bot)

    assert report.get("chatusers", {}) == {}
    assert writes and all("chatusers_chatusersync" in sql and "wire_digest" in sql for sql in writes)
    assert not ChatUserSync.objects.filter(wire_digest__isnull=True).exists()
    assert _writes_of_a_pull(bot)[1] == []


def test_a_re_pull_that_dies_resumes_after_the_chat_users_it_settled_and_not_before(
    bot, raw_ws, sandbox, monkeypatch
):
    """Chat users that differ are gathered across batches and settled together; the
    checkpoint moves past a batch only once its chat users are settled."""
    for start in range(0, 2500, 500):
        raw_ws.ok("chatusers.create", [{"name": f"U{n}"} for n in range(start, start + 500)])
    pull_bot(bot)
    for user in sandbox.store.bots[SITEKEY].chatusers.values():
        user["surname"] = "Changed"  # behind the protocol's back: only the digests tell
    monkeypatch.setattr(pull_module, "APPLY_BATCH", 1000)
    monkeypatch.setattr(pull_module, "SETTLE_BATCH", 1500)
    real_settle = pull_module.Scan._settle
    settled: list[int] = []

    def dies_on_the_second_settling(self: Any, remote: dict[str, Any]) -> None:
        if settled:
            raise ConnectionLost("the worker died")
        settled.append(len(remote))
        real_settle(self, remote)

    monkeypatch.setattr(pull_module.Scan, "_settle", dies_on_the_second_settling)
    died = pull_bot(bot)

    assert "the worker died" in BotSync.objects.get(bot=bot).pull_error and died["errors"]
    assert settled == [2000]  # the first two batches, together
    assert BotSync.objects.get(bot=bot).pull_checkpoint == {"chatusers_offset": 2000}
    assert ChatUser.objects.filter(surname="Changed").count() == 2000

    monkeypatch.setattr(pull_module.Scan, "_settle", real_settle)
    resumed = pull_bot(bot)

    assert resumed["chatusers"] == {"updated": 500, "resumed_at": 2000}
    assert ChatUser.objects.filter(surname="Changed").count() == 2500
    assert _writes_of_a_pull(bot)[1] == []


def test_a_few_changes_a_batch_are_settled_every_few_batches_not_all_at_the_end(
    bot, raw_ws, sandbox, monkeypatch
):
    """What waits to be settled when the last page is read is settled with nothing left to
    read beside it: a scan settles what it gathered once it spans ``SETTLE_SPAN`` batches,
    however few, and its checkpoint moves with them."""
    for start in range(0, 5000, 500):
        raw_ws.ok("chatusers.create", [{"name": f"U{n}"} for n in range(start, start + 500)])
    pull_bot(bot)
    for n, user in enumerate(sandbox.store.bots[SITEKEY].chatusers.values()):
        if n % 100 == 0:
            user["surname"] = "Changed"  # 10 a batch of 1,000, behind the protocol's back
    monkeypatch.setattr(pull_module, "APPLY_BATCH", 1000)
    monkeypatch.setattr(pull_module, "SETTLE_SPAN", 2)
    real_settle, real_checkpoint = pull_module.Scan._settle, pull_module.Scan._checkpoint
    steps: list[Any] = []

    def settle(self: Any, remote: dict[str, Any]) -> None:
        steps.append(len(remote))
        real_settle(self, remote)

    def checkpoint(self: Any, offset: int | None) -> None:
        steps.append(offset)
        real_checkpoint(self, offset)

    monkeypatch.setattr(pull_module.Scan, "_settle", settle)
    monkeypatch.setattr(pull_module.Scan, "_checkpoint", checkpoint)
    report = pull_bot(bot)

    assert report["chatusers"] == {"updated": 50}
    # Two batches' 20 each time, the checkpoint past them; the fifth batch's 10 once all is read.
    assert steps == [20, 2000, 20, 4000, 10, 5000, None]
    assert ChatUser.objects.filter(surname="Changed").count() == 50


def test_a_complete_scan_that_met_every_record_does_not_walk_them_for_deletions(
    bot, raw_ws, sandbox, monkeypatch
):
    users = _seed(raw_ws)
    pull_bot(bot)
    _quietly(sandbox, users[3]["id"])["name"] = "Changed"

    def no_walk(*args: Any) -> int:
        raise AssertionError("the scan walked the bot's records")

    monkeypatch.setattr(pull_module, "bisect_left", no_walk)
    report = pull_bot(bot)

    assert report["chatusers"] == {"updated": 1}
    assert "errors" not in report and BotSync.objects.get(bot=bot).pull_error == ""
    assert ChatUser.objects.get(sync__remote_id=users[3]["id"]).name == "Changed"


def test_a_deletion_is_found_beside_changes_the_same_scan_settles(bot, raw_ws, sandbox):
    users = _seed(raw_ws)
    pull_bot(bot)
    _quietly(sandbox, users[3]["id"])["name"] = "Changed"
    _quietly(sandbox, users[4]["id"])["surname"] = "Changed"
    raw_ws.ok("chatusers.delete", {"ids": [users[5]["id"]]})

    report = pull_bot(bot)

    assert report["chatusers"] == {"updated": 2, "deleted": 1}
    assert not ChatUser.objects.filter(sync__remote_id=users[5]["id"]).exists()
