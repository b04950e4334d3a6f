"""The sandbox's lead intelligence and meeting bookings."""

from __future__ import annotations

import copy

import pytest

from sandbox import intel
from sandbox.registry import Context, SandboxError
from sandbox.store import BotState, SandboxStore

NOW = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z

LEAD = {
    "id": "l1",
    "company": "Acme Logistics",
    "domain": "acme-logistics.example",
    "country": "IT",
    "visits": 2,
    "last_visit_at": "2026-11-23T10:00:00.000Z",
    "tags": ["hot"],
}
VISITS = [
    {
        "url": "https://shop.example.com/",
        "landed_at": "2026-11-22T10:00:00.000Z",
        "left_at": "2026-11-22T10:02:00.000Z",
    },
    {"url": "https://shop.example.com/pricing", "landed_at": "2026-11-23T10:00:00.000Z", "left_at": None},
]
PEOPLE = [
    {"name": "Anna", "surname": "Neri", "role": "CEO", "email": "anna@acme-logistics.example", "phone": None}
]
MEETING = {
    "chatuser_id": "u1",
    "event_uri": "https://calendar.example.com/events/42",
    "start_time": "2026-11-25T10:00:00.000Z",
    "end_time": "2026-11-25T10:30:00.000Z",
    "invitee_email": "giulia@example.com",
}


def _fill(bot: BotState) -> None:
    bot.leads["l1"] = copy.deepcopy(LEAD)
    bot.leads["l2"] = {**copy.deepcopy(LEAD), "id": "l2", "company": "Globex", "tags": []}
    bot.lead_visits["l1"] = copy.deepcopy(VISITS)
    bot.lead_people["l1"] = copy.deepcopy(PEOPLE)
    bot.chatusers["u1"] = {"id": "u1", "name": "Giulia"}


def _context() -> Context:
    store = SandboxStore()
    account = store.add_account("key")
    bot = store.add_bot("shop")
    _fill(bot)
    return Context(store=store, account=account, bot=bot, now_ms=NOW)


def _error(call, ctx: Context, payload: object) -> SandboxError:
    before = (copy.deepcopy(ctx.bot.leads), copy.deepcopy(ctx.bot.meetings), ctx.store.next_id)
    with pytest.raises(SandboxError) as caught:
        call(ctx, payload)
    assert (ctx.bot.leads, ctx.bot.meetings, ctx.store.next_id) == before
    return caught.value


def test_leadlist_answers_every_lead():
    ctx = _context()

    assert intel.leadlist(ctx, None) == [LEAD, {**LEAD, "id": "l2", "company": "Globex", "tags": []}]


def test_visitdetails_and_keypeople_answer_the_leads_lists():
    ctx = _context()

    assert intel.visitdetails(ctx, {"lead_id": "l1"}) == VISITS
    assert intel.keypeople(ctx, {"lead_id": "l1"}) == PEOPLE
    assert intel.visitdetails(ctx, {"lead_id": "l2"}) == []
    assert intel.keypeople(ctx, {"lead_id": "l2"}) == []


def test_visitdetails_and_keypeople_are_404_for_an_unknown_lead_and_400_without_one():
    ctx = _context()

    for operation in (intel.visitdetails, intel.keypeople):
        unknown = _error(operation, ctx, {"lead_id": "nope"})
        missing = _error(operation, ctx, {})
        assert (unknown.status, unknown.code) == (404, "not_found")
        assert (missing.status, missing.fields) == (400, {"lead_id": "required, a non-empty string"})


def test_addtag_adds_a_new_tag_once():
    ctx = _context()

    added = intel.addtag(ctx, {"lead_id": "l1", "tag": "enterprise"})
    again = intel.addtag(ctx, {"lead_id": "l1", "tag": "Enterprise"})

    assert added == {"lead_id": "l1", "tags": ["hot", "enterprise"]}
    assert again == added
    assert ctx.bot.leads["l1"]["tags"] == ["hot", "enterprise"]


def test_removetag_removes_a_tag_and_ignores_an_absent_one():
    ctx = _context()

    removed = intel.removetag(ctx, {"lead_id": "l1", "tag": "HOT"})
    absent = intel.removetag(ctx, {"lead_id": "l1", "tag": "cold"})

    assert removed == {"lead_id": "l1", "tags": []}
    assert absent == {"lead_id": "l1", "tags": []}
    assert ctx.bot.leads["l2"]["tags"] == []


def test_tagging_needs_a_known_lead_and_a_tag():
    ctx = _context()

    for operation in (intel.addtag, intel.removetag):
        unknown = _error(operation, ctx, {"lead_id": "nope", "tag": "hot"})
        missing = _error(operation, ctx, {"lead_id": "nope", "tag": " "})
        assert (unknown.status, unknown.code) == (404, "not_found")
        assert (missing.status, missing.fields) == (400, {"tag": "required, a non-empty string"})


def test_meetings_schedule_records_the_booking():
    ctx = _context()

    answer = intel.meetings_schedule(ctx, MEETING)

    assert answer == {"ok": True}
    assert ctx.bot.meetings == [
        {"id": "000000000000000000000002", "kind": "scheduled", **MEETING, "at": "2026-11-24T09:30:00.000Z"}
    ]


def test_meetings_schedule_refuses_an_end_before_the_start_and_bad_values():
    ctx = _context()

    backwards = _error(intel.meetings_schedule, ctx, {**MEETING, "end_time": "2026-11-25T09:59:59.999Z"})
    bad = _error(
        intel.meetings_schedule,
        ctx,
        {
            **MEETING,
            "start_time": "tomorrow",
            "end_time": "2026-11-25T10:30:00",
            "invitee_email": "giulia",
            "event_uri": "",
        },
    )

    assert (backwards.status, backwards.fields) == (400, {"end_time": "must be after start_time"})
    assert bad.fields == {
        "event_uri": "required, a non-empty string",
        "start_time": "an ISO 8601 time with a zone",
        "end_time": "an ISO 8601 time with a zone",
        "invitee_email": "an email address",
    }


def test_meetings_are_404_for_an_unknown_chat_user_after_the_payload_checks():
    ctx = _context()

    unknown = _error(intel.meetings_schedule, ctx, {**MEETING, "chatuser_id": "nope"})
    unknown_decline = _error(intel.meetings_decline, ctx, {"chatuser_id": "nope", "reason": "busy"})
    bad_and_unknown = _error(intel.meetings_decline, ctx, {"chatuser_id": "nope"})

    assert (unknown.status, unknown_decline.status) == (404, 404)
    assert (bad_and_unknown.status, bad_and_unknown.fields) == (400, {"reason": "required, a string"})


def test_meetings_decline_records_the_reason():
    ctx = _context()

    answer = intel.meetings_decline(ctx, {"chatuser_id": "u1", "reason": "Not interested"})

    assert answer == {"ok": True}
    assert ctx.bot.meetings == [
        {
            "id": "000000000000000000000002",
            "kind": "declined",
            "chatuser_id": "u1",
            "reason": "Not interested",
            "at": "2026-11-24T09:30:00.000Z",
        }
    ]


def test_intel_over_the_wire(sandbox, raw_ws):
    bot = sandbox.store.bots["test-bot"]
    _fill(bot)

    leads = raw_ws.ok("intel.leadlist")
    tagged = raw_ws.ok("intel.addtag", {"lead_id": "l2", "tag": "partner"})
    unknown = raw_ws.request("intel.keypeople", {"lead_id": "nope"})
    booked = raw_ws.ok("meetings.schedule", MEETING)

    assert [lead["id"] for lead in leads] == ["l1", "l2"]
    assert tagged == {"lead_id": "l2", "tags": ["partner"]}
    assert (unknown["channel"], unknown["status"], unknown["error"]["code"]) == (
        "intel.keypeople",
        404,
        "not_found",
    )
    assert booked == {"ok": True}
    assert [meeting["kind"] for meeting in bot.meetings] == ["scheduled"]
