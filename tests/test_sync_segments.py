"""Segments through the sync engine, against the sandbox on loopback: push, pull, merge, delete."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry

from backoffice.sync import services as sync_services
from backoffice.sync.actor import SYNC_USERNAME
from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot.models import Bot
from chatusers import services
from chatusers.models import Segment, Tag
from tests.conftest import RawWs
from tests.sync_helpers import push_losing_the_create_answer, pushed

pytestmark = pytest.mark.django_db(transaction=True)


def remote_segments(ws: RawWs) -> list[dict[str, Any]]:
    return ws.ok("chatusers.get-bot-segments")["segments"]


def edit_remote(ws: RawWs, segment: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "id": segment["id"],
        "name": segment["name"],
        "match": segment["match"],
        "filters": segment["filters"],
    }
    return ws.ok("chatusers.edit-segment", {**body, **changes})


def filters_of(segment: Segment) -> list[tuple[str, str, str, str, str | None]]:
    return [
        (f.field, f.op, f.value, f.name, f.tag.name if f.tag else None)
        for f in segment.filters.select_related("tag")
    ]


def make_segment(bot: Bot, operator: Any, name: str = "Gold", **kwargs: Any) -> Segment:
    kwargs.setdefault("match", "all")
    kwargs.setdefault("filters", [{"field": "channel", "op": "eq", "value": "webchat"}])
    return services.segment_create(bot=bot, name=name, actor=operator, **kwargs)


def test_a_new_segment_reaches_userbot_with_its_tag_filter_by_id(bot, operator, raw_ws):
    vip = services.tag_create(bot=bot, name="VIP", color="#e6194b", actor=operator)
    segment = make_segment(
        bot,
        operator,
        match="any",
        filters=[
            {"field": "tag", "op": "eq", "value": "vip"},
            {"field": "variable", "op": "gt", "value": "10", "name": "score"},
            {"field": "language", "op": "exists"},
        ],
    )

    report = push_pending(bot)

    assert (report.sent, report.dead, report.retrying) == (1, 0, 0)
    tags = raw_ws.ok("chatusers.get-bot-tags")["tags"]
    assert [(t["name"], t["color"]) for t in tags] == [("VIP", "#e6194b")]
    [remote] = remote_segments(raw_ws)
    assert (remote["name"], remote["match"], remote["client_ref"]) == ("Gold", "any", segment.client_ref)
    assert remote["filters"] == [
        {"field": "tag", "op": "eq", "value": tags[0]["id"]},
        {"field": "variable", "op": "gt", "value": "10", "name": "score"},
        {"field": "language", "op": "exists", "value": ""},
    ]
    segment.refresh_from_db()
    vip.refresh_from_db()
    assert (segment.remote_id, segment.sync_state) == (remote["id"], "synced")
    assert vip.remote_id == tags[0]["id"]
    assert not OutboxEntry.objects.exists()


def test_a_pull_right_after_a_push_changes_nothing_here(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    logged = LogEntry.objects.count()

    report = pull_bot(bot)

    assert "segments" not in report
    assert LogEntry.objects.count() == logged
    segment.refresh_from_db()
    assert (segment.name, segment.sync_state) == ("Gold", "synced")


def test_an_edit_on_userbot_is_pulled_without_queueing_a_push(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    raw_ws.ok("chatusers.add-tag", {"chatuser_ids": [], "tag": {"name": "lead", "color": "#3cb44b"}})
    lead_id = raw_ws.ok("chatusers.get-bot-tags")["tags"][0]["id"]
    [remote] = remote_segments(raw_ws)
    edit_remote(
        raw_ws,
        remote,
        name="Leads",
        filters=[
            {"field": "tag", "op": "neq", "value": lead_id},
            {"field": "email", "op": "contains", "value": "@"},
        ],
    )

    report = pull_bot(bot)

    assert report["segments"] == {"updated": 1}
    segment.refresh_from_db()
    assert (segment.name, segment.match, segment.sync_state) == ("Leads", "all", "synced")
    assert filters_of(segment) == [("tag", "neq", "lead", "", "lead"), ("email", "contains", "@", "", None)]
    assert Tag.objects.get(name="lead").remote_id == lead_id
    assert not OutboxEntry.objects.exists()
    entry = LogEntry.objects.filter(user__username=SYNC_USERNAME).get()
    assert entry.change_message == "Changed on Userbot: filters, name"


def test_a_segment_made_on_userbot_is_mirrored_once(bot, raw_ws):
    made = raw_ws.ok(
        "chatusers.create-segment",
        {"name": "Italians", "match": "all", "filters": [{"field": "language", "op": "eq", "value": "it"}]},
    )

    first = pull_bot(bot)
    second = pull_bot(bot)

    assert first["segments"] == {"created": 1}
    assert "segments" not in second
    segment = Segment.objects.get()
    assert (segment.name, segment.remote_id, segment.sync_state) == ("Italians", made["id"], "synced")
    assert filters_of(segment) == [("language", "eq", "it", "", None)]
    assert not OutboxEntry.objects.exists()


def test_different_fields_changed_on_both_sides_both_survive(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    [remote] = remote_segments(raw_ws)
    edit_remote(raw_ws, remote, name="Renamed there")
    services.segment_update(segment=segment, actor=operator, match="any")

    report = push_pending(bot)

    assert (report.sent, report.dead, report.retrying) == (1, 0, 0)
    [remote] = remote_segments(raw_ws)
    assert (remote["name"], remote["match"]) == ("Renamed there", "any")
    assert remote["filters"] == [{"field": "channel", "op": "eq", "value": "webchat"}]
    pull_bot(bot)
    segment.refresh_from_db()
    assert (segment.name, segment.match, segment.sync_state) == ("Renamed there", "any", "synced")
    assert not OutboxEntry.objects.exists()
    assert not SyncConflict.objects.exists()


def test_different_fields_changed_on_both_sides_merge_when_the_pull_comes_first(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    [remote] = remote_segments(raw_ws)
    edit_remote(raw_ws, remote, name="Renamed there")
    services.segment_update(
        segment=segment, actor=operator, filters=[{"field": "channel", "op": "eq", "value": "telegram"}]
    )

    pull_bot(bot)
    push_pending(bot)

    [remote] = remote_segments(raw_ws)
    assert (remote["name"], remote["filters"]) == (
        "Renamed there",
        [{"field": "channel", "op": "eq", "value": "telegram"}],
    )
    segment.refresh_from_db()
    assert (segment.name, segment.sync_state) == ("Renamed there", "synced")
    assert filters_of(segment) == [("channel", "eq", "telegram", "", None)]


def test_the_same_field_changed_on_both_sides_is_a_manual_conflict_by_default(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    [remote] = remote_segments(raw_ws)
    edit_remote(raw_ws, remote, name="Theirs")
    services.segment_update(segment=segment, actor=operator, name="Ours")

    pull_bot(bot)
    report = push_pending(bot)

    segment.refresh_from_db()
    assert (segment.name, segment.sync_state) == ("Ours", "conflict")
    [conflict] = SyncConflict.objects.all()
    assert (conflict.object_type, conflict.object_id, conflict.field) == (
        "chatusers.segment",
        segment.pk,
        "name",
    )
    assert (conflict.base_value, conflict.local_value, conflict.remote_value) == ("Gold", "Ours", "Theirs")
    assert conflict.resolution == "open"
    assert (report.sent, report.parked) == (0, 1)
    assert remote_segments(raw_ws)[0]["name"] == "Theirs"


def test_a_push_before_the_pull_leaves_a_same_field_conflict_to_the_pull(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    [remote] = remote_segments(raw_ws)
    edit_remote(raw_ws, remote, name="Theirs")
    services.segment_update(segment=segment, actor=operator, name="Ours")

    report = push_pending(bot)

    assert (report.sent, report.retrying) == (0, 1)
    assert remote_segments(raw_ws)[0]["name"] == "Theirs"
    [entry] = OutboxEntry.objects.all()
    assert entry.last_error == "Changed on Userbot as well (name); the next pull settles it."
    pull_bot(bot)
    segment.refresh_from_db()
    assert segment.sync_state == "conflict"
    assert SyncConflict.objects.get().resolution == "open"


@pytest.mark.parametrize(("policy", "expected"), [("remote", "Theirs"), ("local", "Ours")])
def test_a_conflict_policy_settles_the_same_field_on_both_sides(bot, operator, raw_ws, policy, expected):
    BotSync.objects.create(bot=bot, conflict_policy=policy)
    segment = pushed(bot, make_segment(bot, operator))
    [remote] = remote_segments(raw_ws)
    edit_remote(raw_ws, remote, name="Theirs")
    services.segment_update(segment=segment, actor=operator, name="Ours")

    pull_bot(bot)
    push_pending(bot)

    segment.refresh_from_db()
    assert (segment.name, segment.sync_state) == (expected, "synced")
    assert remote_segments(raw_ws)[0]["name"] == expected
    [conflict] = SyncConflict.objects.all()
    assert conflict.resolution == {"remote": "auto_remote", "local": "auto_local"}[policy]
    assert not OutboxEntry.objects.exists()


def test_deletes_travel_both_ways(bot, operator, raw_ws):
    ours = pushed(bot, make_segment(bot, operator, name="Ours"))
    theirs = pushed(bot, make_segment(bot, operator, name="Theirs"))

    services.segment_delete(segment=ours, actor=operator)
    sent = push_pending(bot)
    raw_ws.ok("chatusers.remove-segment", [theirs.remote_id])
    report = pull_bot(bot)

    assert sent.sent == 1
    assert remote_segments(raw_ws) == []
    assert not Segment.objects.exists()
    assert report["segments"] == {"deleted": 1}
    assert not OutboxEntry.objects.exists()


def test_a_segment_deleted_on_userbot_is_kept_and_flagged_under_the_keep_policy(bot, operator, raw_ws):
    BotSync.objects.create(bot=bot, on_remote_delete="keep")
    segment = pushed(bot, make_segment(bot, operator))
    raw_ws.ok("chatusers.remove-segment", [segment.remote_id])

    first = pull_bot(bot)
    second = pull_bot(bot)

    segment.refresh_from_db()
    assert segment.sync_state == "error"
    assert segment.sync_error == "Deleted on Userbot; kept here by the bot's policy."
    assert first["segments"] == {"kept": 1}
    assert "segments" not in second


def test_a_segment_userbot_refuses_goes_to_dead_letter_and_the_rest_flows(bot, operator, raw_ws):
    refused = make_segment(bot, operator, name="   ")
    make_segment(bot, operator, name="Fine")

    report = push_pending(bot)

    assert (report.sent, report.dead, report.retrying) == (1, 1, 0)
    [dead] = OutboxEntry.objects.filter(state="dead")
    assert dead.object_id == refused.pk
    assert dead.last_error == "400 invalid: invalid segment (name: required, a non-empty string)"
    refused.refresh_from_db()
    assert (refused.sync_state, refused.remote_id) == ("error", None)
    assert [s["name"] for s in remote_segments(raw_ws)] == ["Fine"]


def test_a_create_whose_answer_was_lost_is_not_made_twice(bot, operator, raw_ws, sandbox):
    segment = make_segment(bot, operator)

    push_losing_the_create_answer(bot, sandbox)
    again = push_pending(bot)

    assert (again.sent, again.retrying) == (1, 0)
    [remote] = remote_segments(raw_ws)
    segment.refresh_from_db()
    assert (remote["client_ref"], remote["id"]) == (segment.client_ref, segment.remote_id)
    assert segment.sync_state == "synced"
    assert not OutboxEntry.objects.exists()


def test_a_create_repeated_from_scratch_finds_the_first(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    first_id = segment.remote_id
    Segment.objects.filter(pk=segment.pk).update(remote_id=None, synced_snapshot=None, remote_updated_at=None)
    OutboxEntry.objects.create(bot=bot, object_type="chatusers.segment", object_id=segment.pk)

    report = push_pending(bot)

    assert report.sent == 1
    assert [s["id"] for s in remote_segments(raw_ws)] == [first_id]
    segment.refresh_from_db()
    assert (segment.remote_id, segment.sync_state) == (first_id, "synced")


def test_a_lost_create_edited_meanwhile_is_adopted_by_the_pull_and_then_updated(
    bot, operator, raw_ws, sandbox
):
    segment = make_segment(bot, operator)
    push_losing_the_create_answer(bot, sandbox, due_now=False)
    services.segment_update(segment=segment, actor=operator, name="Edited")

    report = pull_bot(bot)
    OutboxEntry.objects.update(next_attempt_at=None)
    push_pending(bot)

    assert "created" not in report.get("segments", {})
    [remote] = remote_segments(raw_ws)
    segment.refresh_from_db()
    assert (remote["id"], remote["name"]) == (segment.remote_id, "Edited")
    assert (Segment.objects.count(), segment.sync_state) == (1, "synced")
    assert not SyncConflict.objects.exists()


def test_a_segment_deleted_before_its_create_was_confirmed_goes_from_userbot_too(
    bot, operator, raw_ws, sandbox
):
    segment = make_segment(bot, operator)
    push_losing_the_create_answer(bot, sandbox, due_now=False)
    assert len(remote_segments(raw_ws)) == 1

    services.segment_delete(segment=segment, actor=operator)
    [entry] = OutboxEntry.objects.all()
    assert (entry.deleted, entry.remote_id, entry.client_ref) == (True, "", segment.client_ref)
    report = push_pending(bot)

    assert report.sent == 1
    assert remote_segments(raw_ws) == []
    assert not OutboxEntry.objects.exists()


def test_taking_userbots_side_of_a_conflict_sets_it_here_without_a_push(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    [remote] = remote_segments(raw_ws)
    edit_remote(raw_ws, remote, name="Theirs")
    services.segment_update(segment=segment, actor=operator, name="Ours")
    pull_bot(bot)

    sync_services.conflict_take_theirs(conflict=SyncConflict.objects.get(), actor=operator)
    report = push_pending(bot)

    segment.refresh_from_db()
    assert (segment.name, segment.sync_state) == ("Theirs", "synced")
    assert report.sent == 0
    assert not OutboxEntry.objects.exists()
    assert remote_segments(raw_ws)[0]["name"] == "Theirs"


def test_keeping_ours_in_a_conflict_pushes_it(bot, operator, raw_ws):
    segment = pushed(bot, make_segment(bot, operator))
    [remote] = remote_segments(raw_ws)
    edit_remote(raw_ws, remote, name="Theirs", match="any")
    services.segment_update(segment=segment, actor=operator, name="Ours")
    pull_bot(bot)

    sync_services.conflict_keep_ours(conflict=SyncConflict.objects.get(), actor=operator)
    report = push_pending(bot)
    pull_bot(bot)

    assert report.sent == 1
    [remote] = remote_segments(raw_ws)
    assert (remote["name"], remote["match"]) == ("Ours", "any")
    segment.refresh_from_db()
    assert (segment.name, segment.match, segment.sync_state) == ("Ours", "any", "synced")
    assert not OutboxEntry.objects.exists()


def test_a_lost_create_edited_meanwhile_is_updated_by_the_retry(bot, operator, raw_ws, sandbox):
    segment = make_segment(bot, operator)
    push_losing_the_create_answer(bot, sandbox, due_now=False)
    services.segment_update(segment=segment, actor=operator, name="Edited")
    OutboxEntry.objects.update(next_attempt_at=None)

    report = push_pending(bot)

    assert (report.sent, report.retrying, report.dead) == (1, 0, 0)
    [remote] = remote_segments(raw_ws)
    segment.refresh_from_db()
    assert (remote["id"], remote["name"], remote["client_ref"]) == (
        segment.remote_id,
        "Edited",
        segment.client_ref,
    )
    assert segment.sync_state == "synced"
    assert "segments" not in pull_bot(bot)
