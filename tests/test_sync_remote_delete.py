"""Userbot deletes an object that has a change made here still waiting to be sent: the
operator decides, unless the bot's policy says Userbot wins."""

from __future__ import annotations

from typing import Any

import pytest

from backoffice.sync import services as sync_services
from backoffice.sync.gone import ASKED_MESSAGE, DELETED_FIELD, KEPT_MESSAGE
from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from chatusers import services
from chatusers.models import ChatUser
from knowledge import services as knowledge_services
from knowledge.models import Interaction
from tests.conftest import RawWs
from tests.sync_helpers import history, pushed

pytestmark = pytest.mark.django_db(transaction=True)


def remote_users(ws: RawWs) -> list[dict[str, Any]]:
    return ws.ok("chatusers.get", {"offset": 0, "limit": 1000})["chatusers"]


def set_policy(bot: Any, **policy: str) -> None:
    BotSync.objects.update_or_create(bot=bot, defaults=policy)


def deleted_on_userbot_with_an_edit_waiting(bot: Any, operator: Any, raw_ws: RawWs) -> ChatUser:
    """Ada is pushed, deleted on Userbot, and renamed here before the next push."""
    ada = pushed(bot, services.chatuser_create(bot=bot, actor=operator, name="Ada", email="ada@example.com"))
    raw_ws.ok("chatusers.delete", {"ids": [ada.remote_id]})
    services.chatuser_update(chatuser=ada, actor=operator, name="Augusta")
    return ada


@pytest.mark.parametrize("policy", [BotSync.ConflictPolicy.MANUAL, BotSync.ConflictPolicy.LOCAL])
def test_a_remote_delete_of_a_chat_user_with_an_edit_waiting_is_an_open_conflict(
    bot, operator, raw_ws, policy
):
    set_policy(bot, conflict_policy=policy)
    ada = deleted_on_userbot_with_an_edit_waiting(bot, operator, raw_ws)

    report = pull_bot(bot)

    ada.refresh_from_db()
    assert report["chatusers"] == {"asked": 1}
    assert (ada.name, ada.sync_state, ada.sync_error) == ("Augusta", "conflict", ASKED_MESSAGE)
    [conflict] = SyncConflict.objects.all()
    assert (conflict.field, conflict.resolution, conflict.object_id) == (DELETED_FIELD, "open", ada.pk)
    assert (conflict.local_value["name"], conflict.base_value["name"], conflict.remote_value) == (
        "Augusta",
        "Ada",
        None,
    )
    # The edit waits for the operator: a push sends nothing, a second pull asks nothing more.
    assert push_pending(bot).sent == 0
    assert remote_users(raw_ws) == []
    assert pull_bot(bot).get("chatusers", {}) == {}
    assert SyncConflict.objects.count() == 1


def test_restoring_a_chat_user_deleted_on_userbot_creates_it_there_again_as_it_is_here(bot, operator, raw_ws):
    ada = deleted_on_userbot_with_an_edit_waiting(bot, operator, raw_ws)
    old_remote_id = ada.remote_id
    pull_bot(bot)
    conflict = SyncConflict.objects.get()

    sync_services.conflict_keep_ours(conflict=conflict, actor=operator)
    report = push_pending(bot)

    [remote] = remote_users(raw_ws)
    ada.refresh_from_db()
    assert report.sent == 1
    assert (remote["name"], remote["email"], remote["client_ref"]) == (
        "Augusta",
        "ada@example.com",
        ada.client_ref,
    )
    assert remote["id"] != old_remote_id
    assert (ada.remote_id, ada.sync_state, ada.sync_error) == (remote["id"], "synced", "")
    assert SyncConflict.objects.get().resolution == "ours"
    assert not OutboxEntry.objects.exists()
    assert "Deleted on Userbot: restored there as it is here" in history(ada)
    assert pull_bot(bot).get("chatusers", {}) == {}


def test_accepting_the_delete_of_a_chat_user_deletes_it_here(bot, operator, raw_ws):
    ada = deleted_on_userbot_with_an_edit_waiting(bot, operator, raw_ws)
    pull_bot(bot)

    sync_services.conflict_take_theirs(conflict=SyncConflict.objects.get(), actor=operator)

    assert not ChatUser.objects.filter(pk=ada.pk).exists()
    assert not OutboxEntry.objects.exists()
    assert (SyncConflict.objects.get().resolution, SyncConflict.objects.get().resolved_by) == (
        "theirs",
        operator,
    )
    assert push_pending(bot).sent == 0 and remote_users(raw_ws) == []


def test_accepting_the_delete_under_the_keep_policy_keeps_the_chat_user_flagged(bot, operator, raw_ws):
    set_policy(bot, on_remote_delete=BotSync.RemoteDeletePolicy.KEEP)
    ada = deleted_on_userbot_with_an_edit_waiting(bot, operator, raw_ws)
    pull_bot(bot)

    sync_services.conflict_take_theirs(conflict=SyncConflict.objects.get(), actor=operator)

    ada.refresh_from_db()
    assert (ada.name, ada.sync_state, ada.sync_error) == ("Augusta", "error", KEPT_MESSAGE)
    assert not OutboxEntry.objects.exists()
    assert pull_bot(bot).get("chatusers", {}) == {}


def test_when_userbot_wins_its_delete_goes_ahead_and_the_lost_edit_stays_on_record(bot, operator, raw_ws):
    set_policy(bot, conflict_policy=BotSync.ConflictPolicy.REMOTE)
    ada = deleted_on_userbot_with_an_edit_waiting(bot, operator, raw_ws)

    report = pull_bot(bot)

    assert report["chatusers"] == {"deleted": 1}
    assert not ChatUser.objects.filter(pk=ada.pk).exists()
    assert not OutboxEntry.objects.exists()
    [conflict] = SyncConflict.objects.all()
    assert (conflict.field, conflict.resolution) == (DELETED_FIELD, "gone")


def test_a_remote_delete_without_an_edit_waiting_follows_the_delete_policy_alone(bot, operator, raw_ws):
    ada = pushed(bot, services.chatuser_create(bot=bot, actor=operator, name="Ada"))
    raw_ws.ok("chatusers.delete", {"ids": [ada.remote_id]})

    report = pull_bot(bot)

    assert report["chatusers"] == {"deleted": 1}
    assert not ChatUser.objects.exists()
    assert not SyncConflict.objects.exists()


def test_an_interaction_deleted_on_userbot_with_an_edit_waiting_is_asked_and_can_be_restored(
    bot, operator, raw_ws
):
    faq = pushed(
        bot,
        knowledge_services.interaction_create(
            bot=bot, actor=operator, label="billing", question="Refund?", answer="Yes", language="en"
        ),
    )
    raw_ws.ok("qeafilter.delete", {"id": faq.remote_id})
    knowledge_services.interaction_update(interaction=faq, actor=operator, answer="Within 30 days")

    report = pull_bot(bot)

    faq.refresh_from_db()
    assert report["interactions"] == {"asked": 1}
    assert faq.sync_state == "conflict"
    sync_services.conflict_keep_ours(conflict=SyncConflict.objects.get(field=DELETED_FIELD), actor=operator)
    assert push_pending(bot).sent == 1
    [remote] = raw_ws.ok("qeafilter.search.page-db-ai", {"offset": 0, "limit": 50})["interactions"]
    faq.refresh_from_db()
    assert (remote["answer"], remote["id"], faq.sync_state) == ("Within 30 days", faq.remote_id, "synced")
    assert Interaction.objects.count() == 1
