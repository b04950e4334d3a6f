"""Segment filter semantics (wire contract, section 4) as a table, and the segment operations."""

from __future__ import annotations

import pytest

from sandbox.segments import matches

USER = {
    "id": "u1",
    "channel": "WebChat",
    "language": "it",
    "email": None,
    "tags": ["t1", "t2"],
    "variables": [
        {"id": "v1", "name": "age", "value": "42"},
        {"id": "v2", "name": "plan", "value": "Pro Max"},
        {"id": "v3", "name": "score", "value": "-1.50"},
        {"id": "v4", "name": "code", "value": "10a"},
    ],
    "created_at": "2026-03-10T12:00:00.000Z",
    "last_seen_at": None,
}
BARE = {**USER, "tags": [], "variables": [], "language": "", "last_seen_at": "2026-03-11T00:00:00.000Z"}


def _f(field: str, op: str, value: str | None = None, name: str | None = None) -> dict:
    flt = {"field": field, "op": op}
    if value is not None:
        flt["value"] = value
    if name is not None:
        flt["name"] = name
    return flt


CASES = [
    # tag
    (USER, _f("tag", "eq", "t1"), True),
    (USER, _f("tag", "eq", "t9"), False),
    (USER, _f("tag", "neq", "t9"), True),
    (USER, _f("tag", "neq", "t2"), False),
    (USER, _f("tag", "exists"), True),
    (BARE, _f("tag", "exists"), False),
    (BARE, _f("tag", "not_exists"), True),
    # variable: text, case-insensitive
    (USER, _f("variable", "eq", "pro max", "plan"), True),
    (USER, _f("variable", "neq", "PRO MAX", "plan"), False),
    (USER, _f("variable", "contains", "O m", "plan"), True),
    (USER, _f("variable", "exists", None, "plan"), True),
    (USER, _f("variable", "not_exists", None, "plan"), False),
    # variable: numbers when both sides are decimal numbers
    (USER, _f("variable", "gt", "9", "age"), True),  # 42 > 9 as numbers, not as text
    (USER, _f("variable", "lt", "100", "age"), True),
    (USER, _f("variable", "gt", "42.0", "age"), False),
    (USER, _f("variable", "lt", "-1.4", "score"), True),
    (USER, _f("variable", "gt", "+0", "score"), False),
    # otherwise as case-insensitive text
    (USER, _f("variable", "gt", "9", "code"), False),  # "10a" < "9" as text
    (USER, _f("variable", "gt", "10A", "code"), False),
    (USER, _f("variable", "lt", "10B", "code"), True),
    (USER, _f("variable", "gt", ".5", "age"), True),  # ".5" is not a decimal number here: "42" > ".5"
    # a chat user without the variable matches only neq and not_exists
    (BARE, _f("variable", "neq", "x", "plan"), True),
    (BARE, _f("variable", "not_exists", None, "plan"), True),
    (BARE, _f("variable", "eq", "", "plan"), False),
    (BARE, _f("variable", "contains", "", "plan"), False),
    (BARE, _f("variable", "gt", "-100", "age"), False),
    (BARE, _f("variable", "lt", "100", "age"), False),
    (BARE, _f("variable", "exists", None, "plan"), False),
    # channel, language, email: text; null reads as empty
    (USER, _f("channel", "eq", "webchat"), True),
    (USER, _f("channel", "contains", "CHA"), True),
    (USER, _f("channel", "neq", "WEBCHAT"), False),
    (USER, _f("language", "exists"), True),
    (BARE, _f("language", "not_exists"), True),
    (USER, _f("email", "not_exists"), True),
    (USER, _f("email", "eq", ""), True),
    (USER, _f("email", "neq", "a@b.c"), True),
    (USER, _f("email", "contains", ""), True),
    # times: a date is its 00:00 UTC
    (USER, _f("created_at", "gt", "2026-03-10"), True),
    (USER, _f("created_at", "lt", "2026-03-10"), False),
    (USER, _f("created_at", "lt", "2026-03-11"), True),
    (USER, _f("created_at", "gt", "2026-03-10T12:00:00.000Z"), False),
    (USER, _f("created_at", "lt", "2026-03-10T12:00:00.001Z"), True),
    (USER, _f("created_at", "gt", "2026-03-10T13:00:00+02:00"), True),
    (USER, _f("last_seen_at", "exists"), False),
    (USER, _f("last_seen_at", "not_exists"), True),
    (USER, _f("last_seen_at", "gt", "2000-01-01"), False),
    (BARE, _f("last_seen_at", "gt", "2026-03-10"), True),
    (BARE, _f("last_seen_at", "lt", "2026-03-11"), False),
    (BARE, _f("last_seen_at", "exists"), True),
]


@pytest.mark.parametrize(("chatuser", "flt", "expected"), CASES)
def test_a_filter_matches_as_the_contract_says(chatuser, flt, expected):
    assert matches(chatuser, [flt], "all") is expected
    assert matches(chatuser, [flt], "any") is expected


def test_all_and_any_combine_filters_and_treat_no_filters_differently():
    yes, no = _f("tag", "eq", "t1"), _f("tag", "eq", "t9")
    assert matches(USER, [], "all") is True
    assert matches(USER, [], "any") is False
    assert matches(USER, [yes, no], "all") is False
    assert matches(USER, [yes, no], "any") is True
    assert matches(USER, [yes, yes], "all") is True
    assert matches(USER, [no, no], "any") is False


def test_a_segment_counts_now_without_moving_updated_at(raw_ws):
    raw_ws.ok("chatusers.create", [{"channel": "webchat"}, {"channel": "api"}])
    segment = raw_ws.ok(
        "chatusers.create-segment",
        {"name": "Web", "match": "all", "filters": [{"field": "channel", "op": "eq", "value": "webchat"}]},
    )
    assert segment == {
        "id": segment["id"],
        "client_ref": None,
        "name": "Web",
        "match": "all",
        "filters": [{"field": "channel", "op": "eq", "value": "webchat"}],
        "count": 1,
        "updated_at": segment["updated_at"],
    }
    raw_ws.ok("chatusers.create", [{"channel": "webchat"}])
    (listed,) = raw_ws.ok("chatusers.get-bot-segments")["segments"]
    assert listed == {**segment, "count": 2}


def test_create_segment_is_idempotent_by_client_ref_and_remove_frees_it(raw_ws):
    body = {"name": "Everyone", "match": "all", "filters": [], "client_ref": "seg-1"}
    first = raw_ws.ok("chatusers.create-segment", body)
    again = raw_ws.ok("chatusers.create-segment", {**body, "name": "Other", "match": "any"})
    assert again == first
    assert raw_ws.ok("chatusers.remove-segment", [first["id"], "unknown", first["id"]]) == {"removed": 1}
    assert raw_ws.ok("chatusers.get-bot-segments") == {"segments": []}
    fresh = raw_ws.ok("chatusers.create-segment", body)
    assert fresh["id"] != first["id"]


def test_edit_segment_moves_updated_at_only_when_something_changes(raw_ws):
    (user,) = raw_ws.ok("chatusers.create", [{"tags": ["vip"]}])["chatusers"]
    tag_id = user["tags"][0]
    body = {"name": "VIP", "match": "any", "filters": [{"field": "tag", "op": "eq", "value": tag_id}]}
    segment = raw_ws.ok("chatusers.create-segment", body)
    assert segment["count"] == 1
    same = raw_ws.ok("chatusers.edit-segment", {**body, "id": segment["id"]})
    assert same == segment
    renamed = raw_ws.ok("chatusers.edit-segment", {**body, "id": segment["id"], "name": "Gold"})
    assert renamed["name"] == "Gold" and renamed["updated_at"] > segment["updated_at"]
    missing = raw_ws.request("chatusers.edit-segment", {**body, "id": "nope"})
    assert (missing["status"], missing["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "flt",
    [
        {"field": "created_at", "op": "eq", "value": "2026-01-01"},
        {"field": "created_at", "op": "exists"},
        {"field": "tag", "op": "contains", "value": "x"},
        {"field": "channel", "op": "gt", "value": "a"},
        {"field": "name", "op": "eq", "value": "a"},
        {"field": "channel", "op": "eq"},
        {"field": "channel", "op": "eq", "value": "x", "name": "n"},
        {"field": "variable", "op": "eq", "value": "x"},
        {"field": "created_at", "op": "gt", "value": "yesterday"},
        {"field": "channel", "op": "eq", "value": 3},
    ],
)
def test_an_invalid_filter_is_400_and_creates_nothing(raw_ws, flt):
    response = raw_ws.request("chatusers.create-segment", {"name": "S", "match": "all", "filters": [flt]})
    assert (response["status"], response["error"]["code"]) == (400, "invalid")
    assert raw_ws.ok("chatusers.get-bot-segments") == {"segments": []}


def test_a_filter_naming_an_unknown_tag_is_404(raw_ws):
    flt = {"field": "tag", "op": "neq", "value": "no-such-tag"}
    response = raw_ws.request("chatusers.create-segment", {"name": "S", "match": "all", "filters": [flt]})
    assert (response["status"], response["error"]["code"]) == (404, "not_found")
    assert raw_ws.ok("chatusers.get-bot-segments") == {"segments": []}
