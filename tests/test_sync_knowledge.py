"""Knowledge base interactions through the sync engine, against the sandbox on loopback."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.contrib.admin.models import LogEntry

from backoffice.sync.actor import SYNC_USERNAME
from backoffice.sync.gone import DELETED_FIELD
from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.sync.services import conflict_take_theirs
from backoffice.userbot.models import Bot
from knowledge import services
from knowledge.models import Interaction
from tests.conftest import RawWs
from tests.sync_helpers import push_losing_the_create_answer, pushed

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ("label", "question", "answer", "language", "enabled")


def remote_interactions(ws: RawWs) -> list[dict[str, Any]]:
    return ws.ok("qeafilter.search.page-db-ai", {"offset": 0, "limit": 1000})["interactions"]


def values(remote: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(remote[name] for name in FIELDS)


def local_values(interaction: Interaction) -> tuple[Any, ...]:
    interaction.refresh_from_db()
    return tuple(getattr(interaction, name) for name in FIELDS)


def make_interaction(bot: Bot, operator: Any, label: str = "billing", **kwargs: Any) -> Interaction:
    kwargs.setdefault("question", "How do I get a refund?")
    kwargs.setdefault("answer", "Write to billing.")
    return services.interaction_create(bot=bot, label=label, actor=operator, **kwargs)


def test_a_new_interaction_reaches_userbot(bot, operator, raw_ws):
    interaction = make_interaction(bot, operator, language="it", enabled=False)

    report = push_pending(bot)

    assert (report.sent, report.dead, report.retrying) == (1, 0, 0)
    [remote] = remote_interactions(raw_ws)
    assert values(remote) == ("billing", "How do I get a refund?", "Write to billing.", "it", False)
    assert remote["client_ref"] == interaction.client_ref
    interaction.refresh_from_db()
    assert (interaction.remote_id, interaction.sync_state) == (remote["id"], "synced")
    assert not OutboxEntry.objects.exists()


def test_an_edit_on_userbot_is_pulled_without_queueing_a_push(bot, operator, raw_ws):
    interaction = pushed(bot, make_interaction(bot, operator))
    raw_ws.ok(
        "qeafilter.save.token",
        {"id": interaction.remote_id, "token": "<refunds>", "question": "Refund?", "enabled": False},
    )

    report = pull_bot(bot)

    assert report["interactions"] == {"updated": 1}
    assert local_values(interaction) == ("refunds", "Refund?", "Write to billing.", "", False)
    assert interaction.sync_state == "synced"
    assert not OutboxEntry.objects.exists()
    entry = LogEntry.objects.filter(user__username=SYNC_USERNAME).get()
    assert entry.change_message == "Changed on Userbot: enabled, label, question"


def test_interactions_made_on_userbot_are_mirrored_across_pages_once(bot, raw_ws):
    for n in range(1203):  # pipelined: every frame first, then every answer
        body = {"label": f"l{n % 7}", "question": f"Q{n}", "answer": f"A{n}", "language": "en"}
        raw_ws.send(f"qeafilter.save {orjson.dumps(body).decode()}")
    assert all(raw_ws.recv()["status"] == 200 for _ in range(1203))

    first = pull_bot(bot)
    second = pull_bot(bot)

    assert first["interactions"] == {"created": 1203}
    assert "interactions" not in second
    assert Interaction.objects.filter(sync_state="synced", language="en").count() == 1203
    assert local_values(Interaction.objects.get(question="Q1202")) == ("l5", "Q1202", "A1202", "en", True)
    assert not OutboxEntry.objects.exists()


def test_different_fields_changed_on_both_sides_both_survive(bot, operator, raw_ws):
    interaction = pushed(bot, make_interaction(bot, operator))
    raw_ws.ok("qeafilter.save.token", {"id": interaction.remote_id, "token": "<payments>"})
    services.interaction_update(interaction=interaction, actor=operator, answer="Use the form.")

    report = push_pending(bot)

    assert (report.sent, report.retrying) == (1, 0)
    [remote] = remote_interactions(raw_ws)
    assert values(remote) == ("payments", "How do I get a refund?", "Use the form.", "", True)
    pull_bot(bot)
    assert local_values(interaction) == ("payments", "How do I get a refund?", "Use the form.", "", True)
    assert interaction.sync_state == "synced"
    assert not SyncConflict.objects.exists()
    assert not OutboxEntry.objects.exists()


def test_the_same_field_changed_on_both_sides_is_a_manual_conflict_by_default(bot, operator, raw_ws):
    interaction = pushed(bot, make_interaction(bot, operator))
    raw_ws.ok("qeafilter.save.token", {"id": interaction.remote_id, "token": "<billing>", "answer": "Theirs"})
    services.interaction_update(interaction=interaction, actor=operator, answer="Ours")

    pull_bot(bot)
    report = push_pending(bot)

    interaction.refresh_from_db()
    assert (interaction.answer, interaction.sync_state) == ("Ours", "conflict")
    [conflict] = SyncConflict.objects.all()
    assert (conflict.object_type, conflict.field) == ("knowledge.interaction", "answer")
    assert (conflict.base_value, conflict.local_value, conflict.remote_value) == (
        "Write to billing.",
        "Ours",
        "Theirs",
    )
    assert conflict.resolution == "open"
    assert (report.sent, report.parked) == (0, 1)
    assert remote_interactions(raw_ws)[0]["answer"] == "Theirs"


@pytest.mark.parametrize(("policy", "expected"), [("remote", "Theirs"), ("local", "Ours")])
def test_a_conflict_policy_settles_the_same_field_on_both_sides(bot, operator, raw_ws, policy, expected):
    BotSync.objects.create(bot=bot, conflict_policy=policy)
    interaction = pushed(bot, make_interaction(bot, operator))
    raw_ws.ok("qeafilter.save.token", {"id": interaction.remote_id, "token": "<billing>", "answer": "Theirs"})
    services.interaction_update(interaction=interaction, actor=operator, answer="Ours")

    pull_bot(bot)
    push_pending(bot)

    interaction.refresh_from_db()
    assert (interaction.answer, interaction.sync_state) == (expected, "synced")
    assert remote_interactions(raw_ws)[0]["answer"] == expected
    assert SyncConflict.objects.get().resolution == {"remote": "auto_remote", "local": "auto_local"}[policy]


def test_deletes_travel_both_ways(bot, operator, raw_ws):
    ours = pushed(bot, make_interaction(bot, operator, label="ours"))
    theirs = pushed(bot, make_interaction(bot, operator, label="theirs"))

    services.interaction_delete(interaction=ours, actor=operator)
    sent = push_pending(bot)
    raw_ws.ok("qeafilter.delete", {"id": theirs.remote_id})
    report = pull_bot(bot)

    assert sent.sent == 1
    assert remote_interactions(raw_ws) == []
    assert not Interaction.objects.exists()
    assert report["interactions"] == {"deleted": 1}
    assert not OutboxEntry.objects.exists()


def test_an_edit_of_an_interaction_gone_from_userbot_is_dead_and_the_rest_flows(bot, operator, raw_ws):
    gone = pushed(bot, make_interaction(bot, operator, label="gone"))
    raw_ws.ok("qeafilter.delete", {"id": gone.remote_id})
    services.interaction_update(interaction=gone, actor=operator, answer="Too late")
    make_interaction(bot, operator, label="fresh")

    report = push_pending(bot)

    assert (report.sent, report.dead, report.retrying) == (1, 1, 0)
    [dead] = OutboxEntry.objects.filter(state="dead")
    assert dead.object_id == gone.pk
    assert dead.last_error == f"404 not_found: no interaction {gone.remote_id}"
    gone.refresh_from_db()
    assert gone.sync_state == "error"
    assert [r["label"] for r in remote_interactions(raw_ws)] == ["fresh"]
    # The next pull finds the deletion: the edit in the dead letters is not dropped in
    # silence but asked about, and accepting the delete removes both.
    pull_bot(bot)
    [conflict] = SyncConflict.objects.all()
    assert (conflict.object_id, conflict.field, conflict.resolution) == (gone.pk, DELETED_FIELD, "open")
    conflict_take_theirs(conflict=conflict, actor=operator)
    assert list(Interaction.objects.values_list("label", flat=True)) == ["fresh"]
    assert not OutboxEntry.objects.exists()


def test_a_create_whose_answer_was_lost_is_not_made_twice(bot, operator, raw_ws, sandbox):
    interaction = make_interaction(bot, operator)

    push_losing_the_create_answer(bot, sandbox)
    again = push_pending(bot)

    assert (again.sent, again.retrying) == (1, 0)
    [remote] = remote_interactions(raw_ws)
    interaction.refresh_from_db()
    assert (remote["client_ref"], remote["id"]) == (interaction.client_ref, interaction.remote_id)
    assert interaction.sync_state == "synced"
    assert not OutboxEntry.objects.exists()


def test_an_interaction_deleted_before_its_create_was_confirmed_goes_from_userbot_too(
    bot, operator, raw_ws, sandbox
):
    interaction = make_interaction(bot, operator)
    push_losing_the_create_answer(bot, sandbox, due_now=False)
    assert len(remote_interactions(raw_ws)) == 1

    services.interaction_delete(interaction=interaction, actor=operator)
    report = push_pending(bot)

    assert report.sent == 1
    assert remote_interactions(raw_ws) == []
    assert not OutboxEntry.objects.exists()
