"""Automated messages through the sync engine, against the sandbox on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry

from automation import services
from automation.models import AutomatedMessage
from automation.selectors import automated_message_answers, automated_message_conditions
from backoffice.sync import services as sync_services
from backoffice.sync.actor import SYNC_USERNAME
from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot.models import Bot
from chatusers import services as chatuser_services
from chatusers.models import Tag
from tests.conftest import RawWs
from tests.sync_helpers import push_losing_the_create_answer, pushed

pytestmark = pytest.mark.django_db(transaction=True)

ANSWERS = [
    {"type": "text", "text": "Hello!"},
    {"type": "buttons", "text": "Need help?", "buttons": [{"label": "Yes", "value": "yes"}]},
    {"type": "image", "url": "https://example.com/a.png"},
]


def remote_messages(ws: RawWs) -> list[dict[str, Any]]:
    return ws.ok("automated-messages.get")["automated_messages"]


def make_message(bot: Bot, operator: Any, name: str = "Welcome", **kwargs: Any) -> AutomatedMessage:
    kwargs.setdefault("trigger", "page_visit")
    kwargs.setdefault("conditions", [{"field": "url", "op": "contains", "value": "/pricing"}])
    kwargs.setdefault("answers", [{"type": "text", "text": "Hello!"}])
    return services.automated_message_create(bot=bot, name=name, actor=operator, **kwargs)


def test_a_new_message_reaches_userbot_with_its_tag_condition_by_id(bot, operator, raw_ws):
    chatuser_services.tag_create(bot=bot, name="VIP", color="#e6194b", actor=operator)
    message = make_message(
        bot,
        operator,
        trigger="time_on_page",
        delay_seconds=30,
        enabled=False,
        conditions=[
            {"field": "tag", "op": "eq", "value": "VIP"},
            {"field": "variable", "op": "exists", "value": "", "name": "plan"},
        ],
        answers=ANSWERS,
    )

    report = push_pending(bot)

    assert (report.sent, report.dead, report.retrying) == (1, 0, 0)
    [tag] = raw_ws.ok("chatusers.get-bot-tags")["tags"]
    assert (tag["name"], tag["color"]) == ("VIP", "#e6194b")
    [remote] = remote_messages(raw_ws)
    assert {k: v for k, v in remote.items() if k not in ("id", "updated_at")} == {
        "client_ref": message.client_ref,
        "name": "Welcome",
        "enabled": False,
        "trigger": "time_on_page",
        "delay_seconds": 30,
        "conditions": [
            {"field": "tag", "op": "eq", "value": tag["id"]},
            {"field": "variable", "op": "exists", "value": "", "name": "plan"},
        ],
        "answers": ANSWERS,
    }
    message.refresh_from_db()
    assert (message.remote_id, message.sync_state) == (remote["id"], "synced")
    assert Tag.objects.get().remote_id == tag["id"]
    assert not OutboxEntry.objects.exists()


def test_an_edit_on_userbot_is_pulled_without_queueing_a_push(bot, operator, raw_ws):
    message = pushed(bot, make_message(bot, operator))
    tag = raw_ws.ok("chatusers.add-tag", {"chatuser_ids": [], "tag": {"name": "lead"}})["tag"]
    raw_ws.ok(
        "automated-messages.save",
        {
            "id": message.remote_id,
            "delay_seconds": 5,
            "conditions": [{"field": "tag", "op": "neq", "value": tag["id"]}],
            "answers": ANSWERS[1:],
        },
    )

    report = pull_bot(bot)

    assert report["automated_messages"] == {"updated": 1}
    message.refresh_from_db()
    assert (message.name, message.delay_seconds, message.sync_state) == ("Welcome", 5, "synced")
    assert automated_message_conditions(message=message) == [{"field": "tag", "op": "neq", "value": "lead"}]
    assert automated_message_answers(message=message) == ANSWERS[1:]
    assert not OutboxEntry.objects.exists()
    entry = LogEntry.objects.filter(user__username=SYNC_USERNAME).get()
    assert entry.change_message == "Changed on Userbot: answers, conditions, delay_seconds"


def test_a_message_made_on_userbot_is_mirrored_once(bot, raw_ws):
    made = raw_ws.ok(
        "automated-messages.save",
        {"name": "Exit", "trigger": "exit_intent", "answers": ANSWERS[:1], "client_ref": "made-there"},
    )

    first = pull_bot(bot)
    second = pull_bot(bot)

    assert first["automated_messages"] == {"created": 1}
    assert "automated_messages" not in second
    message = AutomatedMessage.objects.get()
    assert (message.name, message.trigger, message.enabled, message.delay_seconds) == (
        "Exit",
        "exit_intent",
        True,
        0,
    )
    assert (message.remote_id, message.client_ref, message.sync_state) == (made["id"], "made-there", "synced")
    assert automated_message_answers(message=message) == ANSWERS[:1]
    assert automated_message_conditions(message=message) == []
    assert not OutboxEntry.objects.exists()


def test_different_fields_changed_on_both_sides_both_survive(bot, operator, raw_ws):
    message = pushed(bot, make_message(bot, operator))
    raw_ws.ok("automated-messages.save", {"id": message.remote_id, "name": "Renamed there"})
    services.automated_message_update(message=message, actor=operator, answers=ANSWERS[2:])

    report = push_pending(bot)

    assert (report.sent, report.retrying) == (1, 0)
    [remote] = remote_messages(raw_ws)
    assert (remote["name"], remote["answers"]) == ("Renamed there", ANSWERS[2:])
    pull_bot(bot)
    message.refresh_from_db()
    assert (message.name, message.sync_state) == ("Renamed there", "synced")
    assert automated_message_answers(message=message) == ANSWERS[2:]
    assert not SyncConflict.objects.exists()
    assert not OutboxEntry.objects.exists()


def test_the_same_field_changed_on_both_sides_is_a_manual_conflict_by_default(bot, operator, raw_ws):
    message = pushed(bot, make_message(bot, operator))
    raw_ws.ok("automated-messages.save", {"id": message.remote_id, "delay_seconds": 9})
    services.automated_message_update(message=message, actor=operator, delay_seconds=3)

    pull_bot(bot)
    report = push_pending(bot)

    message.refresh_from_db()
    assert (message.delay_seconds, message.sync_state) == (3, "conflict")
    [conflict] = SyncConflict.objects.all()
    assert (conflict.object_type, conflict.field) == ("automation.automatedmessage", "delay_seconds")
    assert (conflict.base_value, conflict.local_value, conflict.remote_value) == (0, 3, 9)
    assert conflict.resolution == "open"
    assert (report.sent, report.parked) == (0, 1)
    assert remote_messages(raw_ws)[0]["delay_seconds"] == 9


@pytest.mark.parametrize(("policy", "expected"), [("remote", 9), ("local", 3)])
def test_a_conflict_policy_settles_the_same_field_on_both_sides(bot, operator, raw_ws, policy, expected):
    BotSync.objects.create(bot=bot, conflict_policy=policy)
    message = pushed(bot, make_message(bot, operator))
    raw_ws.ok("automated-messages.save", {"id": message.remote_id, "delay_seconds": 9})
    services.automated_message_update(message=message, actor=operator, delay_seconds=3)

    pull_bot(bot)
    push_pending(bot)

    message.refresh_from_db()
    assert (message.delay_seconds, message.sync_state) == (expected, "synced")
    assert remote_messages(raw_ws)[0]["delay_seconds"] == expected
    assert SyncConflict.objects.get().resolution == {"remote": "auto_remote", "local": "auto_local"}[policy]


def test_deletes_travel_both_ways(bot, operator, raw_ws):
    ours = pushed(bot, make_message(bot, operator, name="Ours"))
    theirs = pushed(bot, make_message(bot, operator, name="Theirs"))

    services.automated_message_delete(message=ours, actor=operator)
    sent = push_pending(bot)
    raw_ws.ok("automated-messages.delete", {"id": theirs.remote_id})
    report = pull_bot(bot)

    assert sent.sent == 1
    assert remote_messages(raw_ws) == []
    assert not AutomatedMessage.objects.exists()
    assert report["automated_messages"] == {"deleted": 1}
    assert not OutboxEntry.objects.exists()


def test_an_edit_of_a_message_gone_from_userbot_is_dead_and_the_rest_flows(bot, operator, raw_ws):
    gone = pushed(bot, make_message(bot, operator, name="Gone"))
    raw_ws.ok("automated-messages.delete", {"id": gone.remote_id})
    services.automated_message_update(message=gone, actor=operator, enabled=False)
    make_message(bot, operator, name="Fresh")

    report = push_pending(bot)

    assert (report.sent, report.dead, report.retrying) == (1, 1, 0)
    [dead] = OutboxEntry.objects.filter(state="dead")
    assert dead.object_id == gone.pk
    assert dead.last_error == f"404 not_found: no automated message {gone.remote_id}"
    gone.refresh_from_db()
    assert gone.sync_state == "error"
    assert [m["name"] for m in remote_messages(raw_ws)] == ["Fresh"]


def test_a_condition_on_a_tag_this_bot_lacks_is_dead_without_a_request(bot, operator, raw_ws):
    make_message(bot, operator, name="Orphan", conditions=[{"field": "tag", "op": "eq", "value": "nowhere"}])
    make_message(bot, operator, name="Fine")

    report = push_pending(bot)

    assert (report.sent, report.dead) == (1, 1)
    assert OutboxEntry.objects.get(state="dead").last_error == "this bot has no tag named nowhere"
    assert [m["name"] for m in remote_messages(raw_ws)] == ["Fine"]


def test_a_create_whose_answer_was_lost_is_not_made_twice(bot, operator, raw_ws, sandbox):
    message = make_message(bot, operator)

    push_losing_the_create_answer(bot, sandbox)
    again = push_pending(bot)

    assert (again.sent, again.retrying) == (1, 0)
    [remote] = remote_messages(raw_ws)
    message.refresh_from_db()
    assert (remote["client_ref"], remote["id"]) == (message.client_ref, message.remote_id)
    assert message.sync_state == "synced"
    assert not OutboxEntry.objects.exists()


def test_a_message_deleted_before_its_create_was_confirmed_goes_from_userbot_too(
    bot, operator, raw_ws, sandbox
):
    message = make_message(bot, operator)
    push_losing_the_create_answer(bot, sandbox, due_now=False)
    assert len(remote_messages(raw_ws)) == 1

    services.automated_message_delete(message=message, actor=operator)
    report = push_pending(bot)

    assert report.sent == 1
    assert remote_messages(raw_ws) == []
    assert not OutboxEntry.objects.exists()


def test_taking_userbots_conditions_in_a_conflict_replaces_them_here(bot, operator, raw_ws):
    message = pushed(bot, make_message(bot, operator))
    theirs = [{"field": "language", "op": "eq", "value": "it"}]
    raw_ws.ok("automated-messages.save", {"id": message.remote_id, "conditions": theirs})
    services.automated_message_update(
        message=message, actor=operator, conditions=[{"field": "channel", "op": "eq", "value": "telegram"}]
    )
    pull_bot(bot)
    conflict = SyncConflict.objects.get()
    assert (conflict.field, conflict.remote_value) == ("conditions", theirs)

    sync_services.conflict_take_theirs(conflict=conflict, actor=operator)
    report = push_pending(bot)

    message.refresh_from_db()
    assert automated_message_conditions(message=message) == theirs
    assert message.sync_state == "synced"
    assert report.sent == 0
    assert not OutboxEntry.objects.exists()


def test_a_push_before_the_pull_never_overwrites_a_field_changed_on_userbot_too(bot, operator, raw_ws):
    message = pushed(bot, make_message(bot, operator))
    raw_ws.ok("automated-messages.save", {"id": message.remote_id, "delay_seconds": 9})
    services.automated_message_update(message=message, actor=operator, delay_seconds=3)

    report = push_pending(bot)

    assert (report.sent, report.retrying, report.needs_pull) == (0, 1, True)
    assert remote_messages(raw_ws)[0]["delay_seconds"] == 9
    assert OutboxEntry.objects.get().last_error == (
        "Changed on Userbot as well (delay_seconds); the next pull settles it."
    )
    pull_bot(bot)
    message.refresh_from_db()
    assert (message.delay_seconds, message.sync_state) == (3, "conflict")
    assert SyncConflict.objects.get().resolution == "open"
