"""Feedback and the bot's variable catalogue: mirrored from the sandbox, never pushed.

Userbot has no operation that writes feedback or the catalogue, so the tests put them in
the sandbox's store, as the sandbox's own demo seed does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backoffice.sync.kinds import PushItem, kind_for
from backoffice.sync.models import OutboxEntry
from backoffice.sync.pull import pull_bot
from chatusers.models import BotVariable, ChatUser, Feedback
from tests.conftest import SITEKEY, RawWs

pytestmark = pytest.mark.django_db(transaction=True)


def seed_feedback(sandbox: Any, chatuser_id: str, n: int) -> list[str]:
    state = sandbox.store.bots[SITEKEY]
    ids = []
    for i in range(n):
        fid = sandbox.store.new_id()
        state.feedback[fid] = {
            "id": fid,
            "chatuser_id": chatuser_id,
            "session_id": f"s{i}",
            "rating": i % 5 + 1,
            "comment": f"comment {i}",
            "created_at": f"2026-11-{i % 28 + 1:02d}T10:00:{i % 60:02d}.000Z",
        }
        ids.append(fid)
    return ids


def test_feedback_is_mirrored_across_pages_and_linked_to_its_chat_user(bot, raw_ws: RawWs, sandbox):
    [ada] = raw_ws.ok("chatusers.create", [{"name": "Ada"}])["chatusers"]
    ids = seed_feedback(sandbox, ada["id"], 1500)

    first = pull_bot(bot)
    second = pull_bot(bot)

    assert first["feedback"] == {"created": 1500}
    assert "feedback" not in second
    chatuser = ChatUser.objects.get()
    assert Feedback.objects.filter(bot=bot, chatuser=chatuser).count() == 1500
    one = Feedback.objects.get(remote_id=ids[7])
    assert (one.chatuser_remote_id, one.session_id, one.rating, one.comment) == (
        ada["id"],
        "s7",
        3,
        "comment 7",
    )
    assert one.created_at == datetime(2026, 11, 8, 10, 0, 7, tzinfo=UTC)
    assert not OutboxEntry.objects.exists()


def test_feedback_changed_or_gone_on_userbot_changes_or_goes_here(bot, raw_ws: RawWs, sandbox):
    [ada] = raw_ws.ok("chatusers.create", [{"name": "Ada"}])["chatusers"]
    kept, changed, dropped = seed_feedback(sandbox, ada["id"], 3)
    pull_bot(bot)
    state = sandbox.store.bots[SITEKEY]
    state.feedback[changed]["comment"] = "second thoughts"
    del state.feedback[dropped]

    report = pull_bot(bot)

    assert report["feedback"] == {"updated": 1, "deleted": 1}
    assert dict(Feedback.objects.values_list("remote_id", "comment")) == {
        kept: "comment 0",
        changed: "second thoughts",
    }


def test_feedback_of_a_chat_user_unknown_here_keeps_the_userbot_id(bot, sandbox):
    state = sandbox.store.bots[SITEKEY]
    state.feedback["f1"] = {
        "id": "f1",
        "chatuser_id": "c-elsewhere",
        "session_id": "s1",
        "rating": 5,
        "comment": "",
        "created_at": "2026-11-24T09:30:00.000Z",
    }

    pull_bot(bot)

    feedback = Feedback.objects.get()
    assert (feedback.chatuser_id, feedback.chatuser_remote_id, feedback.rating) == (None, "c-elsewhere", 5)


def test_the_variable_catalogue_follows_userbot(bot, raw_ws: RawWs, sandbox):
    state = sandbox.store.bots[SITEKEY]
    state.bot_variables = [{"name": "score", "type": "number"}, {"name": "city", "type": "string"}]
    raw_ws.ok("chatusers.create", [{"name": "Ada", "variables": [{"name": "plan", "value": "gold"}]}])

    first = pull_bot(bot)
    state.bot_variables = [{"name": "score", "type": "string"}]
    second = pull_bot(bot)
    third = pull_bot(bot)

    assert first["bot_variables"] == {"created": 3}
    assert second["bot_variables"] == {"updated": 1, "deleted": 1}
    assert "bot_variables" not in third
    assert list(BotVariable.objects.filter(bot=bot).values_list("name", "type")) == [
        ("plan", "string"),
        ("score", "string"),
    ]
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize("label", ["chatusers.botvariable", "chatusers.feedback"])
def test_a_read_only_kind_refuses_a_push_for_good(bot, label):
    entry = OutboxEntry(bot=bot, object_type=label, object_id=1)
    item = PushItem(entry=entry, obj=None, local=None, snapshot=None, remote_id=None)

    kind_for(label).push(None, [item])  # no client: nothing may be sent

    noun = {"chatusers.botvariable": "bot variable", "chatusers.feedback": "feedback"}[label]
    assert (item.error, item.transient) == (f"{noun} is read from Userbot and never sent to it", False)
