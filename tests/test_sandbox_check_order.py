"""Contract section 1: a bad payload (400) answers before an id that names nothing (404).

Each request below is both invalid and names an unknown id, so a handler that looked the
id up first would answer 404. Most are invalid only beyond the schema, so the handler's
own order is what is checked.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

UNKNOWN = "999999"
FRACTION = "must be an integer, written without a fraction"
BACKWARDS_MEETING = {
    "chatuser_id": UNKNOWN,
    "event_uri": "https://calendly.com/shop/intro",
    "start_time": "2026-11-26T15:30:00.000Z",
    "end_time": "2026-11-26T15:00:00.000Z",
    "invitee_email": "ada@example.com",
}

CASES: list[tuple[str, Any, dict[str, str]]] = [
    (
        "chatusers.get",
        {"offset": 0, "limit": 10.0, "segment_id": UNKNOWN},
        {"limit": FRACTION},
    ),
    (
        "chatusers.get-feedback",
        {"offset": 0, "limit": 0, "chatuser_id": UNKNOWN},
        {"limit": "must be at least 1"},
    ),
    (
        "chatusers.create-segment",
        {"name": "  ", "match": "all", "filters": [{"field": "tag", "op": "eq", "value": UNKNOWN}]},
        {"name": "required, a non-empty string"},
    ),
    (
        "chatusers.edit-segment",
        {
            "id": UNKNOWN,
            "name": "Recent",
            "match": "all",
            "filters": [
                {"field": "tag", "op": "eq", "value": UNKNOWN},
                {"field": "created_at", "op": "gt", "value": "soon"},
            ],
        },
        {"filters.1": "value must be a date (YYYY-MM-DD) or an ISO 8601 time"},
    ),
    (
        "chatusers.add-tag",
        {"chatuser_ids": [UNKNOWN], "tag": {"name": "   "}},
        {"tag.name": "required, a non-empty string"},
    ),
    (
        "chatusers.remove-tag",
        {"chatuser_ids": [UNKNOWN], "element_id": UNKNOWN, "tag": "vip"},
        {"tag": "unknown property"},
    ),
    (
        "chatusers.set-variable",
        {"chatuser_id": UNKNOWN, "variable": {"name": " ", "value": "gold"}},
        {"variable": "name: must not be only blanks"},
    ),
    (
        "chatusers.set-variable",
        {"chatuser_id": UNKNOWN, "variable_id": UNKNOWN},
        {"value": "required"},
    ),
    (
        "chatusers.remove-variable",
        {"chatuser_ids": [UNKNOWN, 7], "element_id": UNKNOWN},
        {"chatuser_ids": "[1]: must be a string"},
    ),
    ("chatusers.get-vars", {"chatuser_id": UNKNOWN, "name": "plan"}, {"name": "unknown property"}),
    (
        "qeafilter.save.token",
        {"id": UNKNOWN, "token": "<  >"},
        {"token": "required, the label between < and >"},
    ),
    (
        "qeafilter.save.token",
        {"id": UNKNOWN, "token": "<refund>", "question": " "},
        {"question": "a non-empty string"},
    ),
    ("qeafilter.delete", {"id": UNKNOWN, "label": "refund"}, {"label": "unknown property"}),
    (
        "automated-messages.save",
        {"id": UNKNOWN, "name": "  "},
        {"name": "a non-empty string"},
    ),
    (
        "automated-messages.save",
        {"id": UNKNOWN, "conditions": [{"field": "tag", "op": "eq", "value": UNKNOWN}], "delay_seconds": 5.0},
        {"delay_seconds": FRACTION},
    ),
    ("automated-messages.delete", {"id": UNKNOWN, "name": "Hi"}, {"name": "unknown property"}),
    (
        "chat-assign-to-agent",
        {"session_id": UNKNOWN, "agent_id": ""},
        {"agent_id": "must not be empty"},
    ),
    ("chat-assign-to-bot", {"session_id": UNKNOWN, "agent_id": "7"}, {"agent_id": "unknown property"}),
    ("intel.visitdetails", {"lead_id": UNKNOWN, "url": "/"}, {"url": "unknown property"}),
    ("intel.keypeople", {"lead_id": UNKNOWN, "role": "CEO"}, {"role": "unknown property"}),
    ("intel.addtag", {"lead_id": UNKNOWN, "tag": "  "}, {"tag": "required, a non-empty string"}),
    ("intel.removetag", {"lead_id": UNKNOWN, "tag": "\t"}, {"tag": "required, a non-empty string"}),
    ("meetings.schedule", BACKWARDS_MEETING, {"end_time": "must be after start_time"}),
    ("meetings.decline", {"chatuser_id": UNKNOWN, "reason": None}, {"reason": "must be a string"}),
]


def _state(sandbox) -> Any:
    bot = sandbox.store.bots["test-bot"]
    return copy.deepcopy(
        (
            bot.chatusers,
            bot.tags,
            bot.segments,
            bot.interactions,
            bot.automated_messages,
            bot.sessions,
            bot.messages,
            bot.leads,
            bot.meetings,
            bot.last_stamp_ms,
            sandbox.store.next_id,
        )
    )


@pytest.mark.parametrize(
    ("channel", "payload", "fields"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_a_bad_payload_naming_an_unknown_id_is_400_not_404(sandbox, raw_ws, channel, payload, fields):
    before = _state(sandbox)

    answer = raw_ws.request(channel, payload)

    assert (answer["channel"], answer["status"], answer["error"]["code"]) == (channel, 400, "invalid")
    assert answer["error"]["fields"] == fields
    assert _state(sandbox) == before


def test_say_with_an_empty_message_into_an_unknown_session_is_400(sandbox, raw_ws):
    before = _state(sandbox)

    answer = raw_ws.call(f"say.w1.-100.{UNKNOWN}.   ")

    assert (answer["channel"], answer["status"], answer["error"]["fields"]) == (
        "say",
        400,
        {"message": "required, not empty"},
    )
    assert _state(sandbox) == before


def test_changing_the_client_ref_of_a_message_is_400_before_an_unknown_condition_tag(sandbox, raw_ws):
    message = raw_ws.ok(
        "automated-messages.save", {"name": "Hi", "trigger": "page_visit", "client_ref": "am-1"}
    )
    before = _state(sandbox)

    answer = raw_ws.request(
        "automated-messages.save",
        {
            "id": message["id"],
            "client_ref": "am-2",
            "conditions": [{"field": "tag", "op": "eq", "value": UNKNOWN}],
        },
    )

    assert (answer["status"], answer["error"]["fields"]) == (400, {"client_ref": "cannot be changed"})
    assert _state(sandbox) == before
    assert raw_ws.ok("automated-messages.get") == {"automated_messages": [message]}


def test_a_known_segment_client_ref_still_refuses_bad_filters(sandbox, raw_ws):
    segment = raw_ws.ok(
        "chatusers.create-segment", {"name": "All", "match": "all", "filters": [], "client_ref": "s-1"}
    )

    bad = raw_ws.request(
        "chatusers.create-segment",
        {
            "name": "All",
            "match": "all",
            "client_ref": "s-1",
            "filters": [{"field": "last_seen_at", "op": "lt", "value": "yesterday"}],
        },
    )
    unknown_tag = raw_ws.ok(
        "chatusers.create-segment",
        {
            "name": "All",
            "match": "all",
            "client_ref": "s-1",
            "filters": [{"field": "tag", "op": "eq", "value": UNKNOWN}],
        },
    )

    assert (bad["status"], bad["error"]["fields"]) == (
        400,
        {"filters.0": "value must be a date (YYYY-MM-DD) or an ISO 8601 time"},
    )
    assert unknown_tag == segment
    assert raw_ws.ok("chatusers.get-bot-segments") == {"segments": [segment]}
