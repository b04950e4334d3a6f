"""Chat user operations of the sandbox (wire contract, sections 4 and 5), over real frames."""

from __future__ import annotations

import re

import pytest

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
PAGE = {"offset": 0, "limit": 1000}


def _all(ws) -> list[dict]:
    return ws.ok("chatusers.get", PAGE)["chatusers"]


def _create(ws, *items: dict) -> list[dict]:
    return ws.ok("chatusers.create", list(items))["chatusers"]


def _assert_silent(ws) -> None:
    ws.send("who")
    assert ws.recv()["channel"] == "who"


def test_create_fills_the_defaults_and_one_time(raw_ws):
    users = _create(raw_ws, {}, {"name": "Ada"})
    first = users[0]
    assert {k: v for k, v in first.items() if k not in ("id", "created_at", "updated_at")} == {
        "client_ref": None,
        "name": "",
        "surname": "",
        "email": None,
        "phone": None,
        "channel": "api",
        "language": "",
        "tags": [],
        "variables": [],
        "last_seen_at": None,
    }
    assert ISO_MS.fullmatch(first["created_at"])
    assert {u["created_at"] for u in users} == {u["updated_at"] for u in users} == {first["created_at"]}
    assert users[1]["id"] > first["id"]


def test_create_makes_tags_by_name_and_shares_variable_ids(raw_ws):
    ada, bob = _create(
        raw_ws,
        {"tags": ["VIP", "eu"], "variables": [{"name": "plan", "value": "pro"}]},
        {"tags": ["vip"], "variables": [{"name": "plan", "value": "free"}]},
    )
    tags = raw_ws.ok("chatusers.get-bot-tags")["tags"]
    assert [(t["name"], t["color"]) for t in tags] == [("VIP", "#607d8b"), ("eu", "#607d8b")]
    assert ada["tags"] == [tags[0]["id"], tags[1]["id"]]
    assert bob["tags"] == [tags[0]["id"]]
    assert ada["variables"][0]["id"] == bob["variables"][0]["id"]
    assert raw_ws.ok("bot.get-vars") == {"variables": [{"name": "plan", "type": "string"}]}


def test_a_repeated_client_ref_returns_the_existing_chat_user_unchanged(raw_ws):
    raw_ws.call("subscribe chatusers")
    (original,) = _create(raw_ws, {"client_ref": "crm-1", "name": "Ada"})
    raw_ws.recv()
    again, new = _create(raw_ws, {"client_ref": "crm-1", "name": "Other", "email": "x@y.io"}, {"name": "New"})
    assert again == original
    assert raw_ws.recv()["payload"]["id"] == new["id"]  # one event: only the new one
    _assert_silent(raw_ws)
    assert [u["name"] for u in _all(raw_ws)] == ["Ada", "New"]


def test_email_phone_and_client_ref_belong_to_one_chat_user(raw_ws):
    _create(raw_ws, {"email": "Ada@Example.com", "phone": "+393331234567", "client_ref": "a"})
    for item in ({"email": "ada@example.COM"}, {"phone": "+393331234567"}):
        response = raw_ws.request("chatusers.create", [{"name": "ok"}, item])
        assert (response["status"], response["error"]["code"]) == (400, "invalid")
        assert set(response["error"]["fields"]) == {"1"}
    batch = raw_ws.request("chatusers.create", [{"client_ref": "b"}, {"client_ref": "b"}])
    assert set(batch["error"]["fields"]) == {"1"}
    emails = raw_ws.request("chatusers.create", [{"email": "z@z.io"}, {"email": "Z@z.io"}])
    assert set(emails["error"]["fields"]) == {"1"}
    assert len(_all(raw_ws)) == 1


def test_create_is_all_or_nothing_with_fields_keyed_by_item(raw_ws):
    response = raw_ws.request(
        "chatusers.create",
        [
            {"name": "fine", "tags": ["new-tag"]},
            {"phone": "333 123"},
            {"language": "xx", "channel": "fax"},
            {"id": "chosen"},
        ],
    )
    assert response["status"] == 400
    assert set(response["error"]["fields"]) == {"1", "2", "3"}
    assert _all(raw_ws) == []
    assert raw_ws.ok("chatusers.get-bot-tags") == {"tags": []}


def test_create_takes_1_to_1000_items(raw_ws):
    assert raw_ws.request("chatusers.create", [])["status"] == 400
    assert raw_ws.request("chatusers.create", [{}] * 1001)["status"] == 400
    items = [{"client_ref": f"r{i}", "email": f"p{i}@example.com"} for i in range(1000)]
    assert len(_create(raw_ws, *items)) == 1000
    page = raw_ws.ok("chatusers.get", {"offset": 990, "limit": 1000})
    assert page["total"] == 1000
    assert [u["client_ref"] for u in page["chatusers"]] == [f"r{i}" for i in range(990, 1000)]


def test_updated_at_moves_forward_per_change_and_not_on_a_no_op(raw_ws, sandbox):
    sandbox.store.bots["test-bot"].last_stamp_ms = 4_102_444_800_000  # the clock stands still behind it
    (user,) = _create(raw_ws, {"name": "Ada"})
    assert user["updated_at"] == "2100-01-01T00:00:00.001Z"
    raw_ws.call("subscribe chatusers")
    tagged = raw_ws.ok("chatusers.add-tag", {"chatuser_ids": [user["id"]], "tag": {"name": "vip"}})
    assert tagged["chatusers"][0]["updated_at"] == "2100-01-01T00:00:00.002Z"
    raw_ws.recv()
    again = raw_ws.ok("chatusers.add-tag", {"chatuser_ids": [user["id"]], "tag": {"name": "VIP"}})
    assert again["chatusers"][0]["updated_at"] == "2100-01-01T00:00:00.002Z"
    var = raw_ws.ok(
        "chatusers.set-variable", {"chatuser_id": user["id"], "variable": {"name": "p", "value": "1"}}
    )
    assert var["updated_at"] == "2100-01-01T00:00:00.003Z"
    raw_ws.recv()
    same = raw_ws.ok(
        "chatusers.set-variable", {"chatuser_id": user["id"], "variable": {"name": "p", "value": "1"}}
    )
    assert same["updated_at"] == "2100-01-01T00:00:00.003Z"
    _assert_silent(raw_ws)


def test_changes_of_one_request_share_one_time(raw_ws):
    a, b = _create(raw_ws, {"name": "a"}, {"name": "b"})
    both = raw_ws.ok("chatusers.add-tag", {"chatuser_ids": [a["id"], b["id"]], "tag": {"name": "t"}})
    times = {u["updated_at"] for u in both["chatusers"]}
    assert len(times) == 1 and times.pop() > a["updated_at"]


def test_delete_skips_unknown_ids_and_frees_the_unique_keys(raw_ws):
    (user,) = _create(raw_ws, {"client_ref": "c", "email": "e@x.io", "phone": "+391234567"})
    raw_ws.call("subscribe chatusers")
    assert raw_ws.ok("chatusers.delete", {"ids": [user["id"], "nobody", user["id"]]}) == {"deleted": 1}
    event = raw_ws.recv()
    assert (event["event"], event["payload"]["op"], event["payload"]["id"]) == (
        "chatusers.changed",
        "deleted",
        user["id"],
    )
    assert event["payload"]["updated_at"] > user["updated_at"]
    (again,) = _create(raw_ws, {"client_ref": "c", "email": "E@x.io", "phone": "+391234567"})
    assert again["id"] != user["id"]
    assert raw_ws.ok("chatusers.delete", {"ids": ["nobody"]}) == {"deleted": 0}


def test_get_orders_by_created_at_then_id_and_filters_by_search_and_segment(raw_ws, sandbox):
    users = _create(
        raw_ws,
        {"name": "Ada", "surname": "Lovelace", "channel": "webchat"},
        {"name": "Bob", "email": "BOB@shop.io"},
        {"name": "Cy", "phone": "+441234567"},
    )
    sandbox.store.bots["test-bot"].chatusers[users[0]["id"]]["created_at"] = "2100-01-01T00:00:00.000Z"
    sandbox.store.bots["test-bot"].order_stale = True
    assert [u["name"] for u in _all(raw_ws)] == ["Bob", "Cy", "Ada"]
    page = raw_ws.ok("chatusers.get", {"offset": 1, "limit": 1})
    assert (page["total"], [u["name"] for u in page["chatusers"]]) == (3, ["Cy"])
    for search, names in (("love", ["Ada"]), ("shop.IO", ["Bob"]), ("+4412", ["Cy"]), ("zzz", [])):
        found = raw_ws.ok("chatusers.get", {**PAGE, "search": search})
        assert ([u["name"] for u in found["chatusers"]], found["total"]) == (names, len(names))
    segment = raw_ws.ok(
        "chatusers.create-segment",
        {
            "name": "api",
            "match": "all",
            "filters": [{"field": "channel", "op": "eq", "value": "API"}],
        },
    )
    in_segment = raw_ws.ok("chatusers.get", {"offset": 1, "limit": 5, "segment_id": segment["id"]})
    assert (in_segment["total"], [u["name"] for u in in_segment["chatusers"]]) == (2, ["Cy"])
    missing = raw_ws.request("chatusers.get", {**PAGE, "segment_id": "nope"})
    assert (missing["status"], missing["error"]["code"]) == (404, "not_found")


def test_add_tag_by_name_or_id_keeps_an_existing_colour(raw_ws):
    a, b = _create(raw_ws, {"name": "a"}, {"name": "b"})
    first = raw_ws.ok(
        "chatusers.add-tag", {"chatuser_ids": [a["id"]], "tag": {"name": "Gold", "color": "#ffd700"}}
    )
    assert first["tag"] == {"id": first["tag"]["id"], "name": "Gold", "color": "#ffd700"}
    again = raw_ws.ok(
        "chatusers.add-tag", {"chatuser_ids": [b["id"]], "tag": {"name": "gold", "color": "#000000"}}
    )
    assert again["tag"] == first["tag"]
    by_id = raw_ws.ok(
        "chatusers.add-tag", {"chatuser_ids": [a["id"], b["id"]], "tag": {"id": first["tag"]["id"]}}
    )
    assert [u["tags"] for u in by_id["chatusers"]] == [[first["tag"]["id"]]] * 2
    assert (
        raw_ws.request("chatusers.add-tag", {"chatuser_ids": [a["id"]], "tag": {"id": "nope"}})["status"]
        == 404
    )
    unknown_user = raw_ws.request(
        "chatusers.add-tag", {"chatuser_ids": ["nobody"], "tag": {"name": "Silver"}}
    )
    assert unknown_user["status"] == 404
    bad_colour = raw_ws.request(
        "chatusers.add-tag", {"chatuser_ids": [a["id"]], "tag": {"name": "x", "color": "red"}}
    )
    assert bad_colour["status"] == 400
    assert [t["name"] for t in raw_ws.ok("chatusers.get-bot-tags")["tags"]] == ["Gold"]


def test_remove_tag_takes_it_off_and_refuses_an_unknown_tag(raw_ws):
    (user,) = _create(raw_ws, {"tags": ["a", "b"]})
    tag_a = user["tags"][0]
    removed = raw_ws.ok("chatusers.remove-tag", {"chatuser_ids": [user["id"]], "element_id": tag_a})
    assert removed["chatusers"][0]["tags"] == [user["tags"][1]]
    assert removed["chatusers"][0]["updated_at"] > user["updated_at"]
    missing = raw_ws.request("chatusers.remove-tag", {"chatuser_ids": [user["id"]], "element_id": "nope"})
    assert missing["status"] == 404


def test_variables_set_by_id_or_name_and_removed_by_id(raw_ws):
    a, b = _create(
        raw_ws,
        {"variables": [{"name": "plan", "value": "pro"}]},
        {"variables": [{"name": "plan", "value": "free"}, {"name": "city", "value": "Rome"}]},
    )
    plan_id = a["variables"][0]["id"]
    assert raw_ws.ok("chatusers.get-vars", {"chatuser_id": b["id"]})["variables"] == b["variables"]
    updated = raw_ws.ok(
        "chatusers.set-variable", {"chatuser_id": a["id"], "variable_id": plan_id, "value": "max"}
    )
    assert updated["variables"] == [{"id": plan_id, "name": "plan", "value": "max"}]
    city_id = b["variables"][1]["id"]
    lacking = raw_ws.request(
        "chatusers.set-variable", {"chatuser_id": a["id"], "variable_id": city_id, "value": "x"}
    )
    assert (lacking["status"], lacking["error"]["code"]) == (404, "not_found")
    added = raw_ws.ok(
        "chatusers.set-variable", {"chatuser_id": a["id"], "variable": {"name": "city", "value": "Oslo"}}
    )
    assert added["variables"][1] == {"id": city_id, "name": "city", "value": "Oslo"}
    removed = raw_ws.ok(
        "chatusers.remove-variable", {"chatuser_ids": [a["id"], b["id"]], "element_id": plan_id}
    )
    assert [[v["name"] for v in u["variables"]] for u in removed["chatusers"]] == [["city"], ["city"]]
    unknown = raw_ws.request("chatusers.remove-variable", {"chatuser_ids": [a["id"]], "element_id": "nope"})
    assert unknown["status"] == 404
    assert raw_ws.request("chatusers.get-vars", {"chatuser_id": "nobody"})["status"] == 404


def test_insights_count_inclusive_dates(raw_ws, sandbox):
    users = _create(
        raw_ws,
        {"channel": "webchat", "language": "it"},
        {"channel": "webchat", "language": "en", "last_seen_at": "2026-03-31T23:59:59.999Z"},
        {"channel": "whatsapp"},
    )
    stored = sandbox.store.bots["test-bot"].chatusers
    stored[users[0]["id"]]["created_at"] = "2026-01-15T10:00:00.000Z"
    stored[users[1]["id"]]["created_at"] = "2026-03-01T00:00:00.000Z"
    stored[users[2]["id"]]["created_at"] = "2026-04-01T00:00:00.000Z"
    assert raw_ws.ok("chatusers.insights", {"from": "2026-03-01", "to": "2026-03-31"}) == {
        "total": 2,
        "new": 1,
        "active": 1,
        "by_channel": {"webchat": 2},
        "by_language": {"it": 1, "en": 1},
    }
    backwards = raw_ws.request("chatusers.insights", {"from": "2026-03-02", "to": "2026-03-01"})
    assert (backwards["status"], backwards["error"]["code"]) == (400, "invalid")


@pytest.mark.parametrize(
    "channel",
    [
        "chatusers.insights",
        "bot.stats",
        "rawstats.count-nps",
        "rawstats.all",
        "rawstats.count-messages",
        "rawstats.count-sessions",
        "rawstats.get",
    ],
)
def test_a_backwards_date_range_names_both_ends_on_every_operation(raw_ws, channel):
    backwards = raw_ws.request(channel, {"from": "2026-03-02", "to": "2026-03-01"})

    assert (backwards["channel"], backwards["status"]) == (channel, 400)
    assert backwards["error"]["fields"] == {"from": "after to", "to": "before from"}


def test_feedback_is_newest_first_and_filters_by_chat_user(raw_ws, sandbox):
    a, b = _create(raw_ws, {}, {})
    feedback = sandbox.store.bots["test-bot"].feedback
    for fid, who, at in (("f1", a, "2026-01-01"), ("f2", b, "2026-01-03"), ("f3", a, "2026-01-02")):
        feedback[fid] = {
            "id": fid,
            "chatuser_id": who["id"],
            "session_id": "s",
            "rating": 5,
            "comment": "",
            "created_at": f"{at}T00:00:00.000Z",
        }
    everything = raw_ws.ok("chatusers.get-feedback", {"offset": 0, "limit": 10})
    assert (everything["total"], [f["id"] for f in everything["feedback"]]) == (3, ["f2", "f3", "f1"])
    mine = raw_ws.ok("chatusers.get-feedback", {"offset": 1, "limit": 10, "chatuser_id": a["id"]})
    assert (mine["total"], [f["id"] for f in mine["feedback"]]) == (2, ["f1"])
    assert (
        raw_ws.request("chatusers.get-feedback", {"offset": 0, "limit": 1, "chatuser_id": "x"})["status"]
        == 404
    )


def test_a_change_after_seeded_data_is_later_than_every_seeded_time(raw_ws, sandbox):
    (user,) = _create(raw_ws, {"name": "Ada"})
    bot = sandbox.store.bots["test-bot"]
    bot.chatusers[user["id"]]["updated_at"] = "2100-05-01T10:00:00.000Z"  # written as a seed would
    sandbox.store.reindex()
    tagged = raw_ws.ok("chatusers.add-tag", {"chatuser_ids": [user["id"]], "tag": {"name": "t"}})
    assert tagged["chatusers"][0]["updated_at"] == "2100-05-01T10:00:00.001Z"
