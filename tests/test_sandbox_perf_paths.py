"""The sandbox's fast paths answer exactly as the plain ones did.

``chatusers.create`` asks for the schema's verdict only when its own checks cannot vouch for
a payload; these tests hold it to "the schema's answer comes first, whatever the payload".
Creates, deletes and imports keep the indexes and the ``chatusers.get`` order in step
without rebuilding them.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.schema import validate_request
from sandbox import chatusers_create
from sandbox.registry import HANDLERS, Context, SandboxError
from sandbox.server import SandboxServer, build_store
from sandbox.session import Session
from sandbox.store import BotState, iso_ms

PAGE = {"offset": 0, "limit": 1000}
VALUES: dict[str, list[Any]] = {
    "client_ref": ["ref-1", "", "r" * 64, "r" * 65, None, 7, ["x"]],
    "name": ["Ada", "", None, 3, True],
    "surname": ["Lovelace", None, 1.5],
    "email": ["ada@x.io", "ADA@X.IO", "not-an-email", "a@b", None, "", 5, "ada@x.io\n"],
    "phone": ["+391234567", "+0123", "391234567", None, "", 12, "+391234567\n"],
    "channel": ["webchat", "api", "WEBCHAT", "fax", None, "", 1],
    "language": ["it", "", "xx", "IT", None, 0],
    "tags": [[], ["vip"], ["vip", "VIP", " eu "], [""], ["  "], [1], "vip", None, {}],
    "variables": [
        [],
        [{"name": "plan", "value": "pro"}],
        [{"name": "plan", "value": "pro"}, {"name": "plan", "value": "free"}],
        [{"name": "plan"}],
        [{"name": "", "value": "x"}],
        [{"name": " ", "value": "x"}],
        [{"name": "plan", "value": 1}],
        [{"name": "plan", "value": "pro", "extra": 1}],
        ["plan"],
        None,
        {},
    ],
    "last_seen_at": [
        "2026-11-24T09:30:00.000Z",
        "2026-11-24T09:30:00Z",
        "2026-11-24",
        "2026-02-30T09:30:00.000Z",
        "0999-01-01T00:00:00.000Z",
        "soon",
        None,
        5,
    ],
}


def _random_item(rng: random.Random) -> Any:
    """An item of random fields, each valid (its first value) more often than not."""
    if rng.random() < 0.03:
        return rng.choice([None, "item", 3, []])
    item = {
        key: values[0] if rng.random() < 0.7 else rng.choice(values)
        for key, values in VALUES.items()
        if rng.random() < 0.5
    }
    if rng.random() < 0.05:
        item["id"] = "x"
    return item


def _answer(server: SandboxServer, session: Session, payload: Any) -> dict[str, Any]:
    answer, _ = server.answer(session, "chatusers.create " + orjson.dumps(payload).decode())
    return orjson.loads(answer.frame)


def _session(server: SandboxServer) -> Session:
    session = Session(connection=None)  # type: ignore[arg-type]
    session.account = server.store.accounts["k"]
    session.bot = server.store.bots["b"]
    return session


def test_the_create_checks_mirror_the_schema_they_were_written_for():
    assert chatusers_create.schema_time_pattern() is not None
    fields, problems, strict = chatusers_create.check_item(
        {"client_ref": "r", "name": "Ada", "email": "a@x.io", "tags": ["vip"]},
        chatusers_create.schema_time_pattern(),
    )
    assert (problems, strict) == ([], True)
    assert fields == ("r", "Ada", "", "a@x.io", None, "api", "", ["vip"], [], None)


def test_an_item_the_create_checks_vouch_for_is_one_the_schema_accepts():
    rng = random.Random(20261124)
    pattern = chatusers_create.schema_time_pattern()
    vouched = 0
    for _ in range(5000):
        item = _random_item(rng)
        _, problems, strict = chatusers_create.check_item(item, pattern)
        if strict:
            vouched += 1
            assert problems == []
            validate_request("chatusers.create", [item])  # raises if the schema refuses it
    assert vouched > 100


def test_the_schema_answers_first_for_every_create_it_refuses():
    rng = random.Random(7)
    store = build_store(apikeys=["k"], sitekeys=["b"], state_path=None)
    server = SandboxServer(store)
    session = _session(server)
    refused = 0
    for n in range(600):
        payload: Any = [_random_item(rng) for _ in range(rng.randint(1, 3))]
        if n % 50 == 0:
            payload = rng.choice([[], {}, None, "x", [{}] * 1001])
        before = len(store.bots["b"].chatusers)
        try:
            validate_request("chatusers.create", payload)
        except PayloadInvalid as exc:
            refused += 1
            assert _answer(server, session, payload) == {
                "channel": "chatusers.create",
                "status": 400,
                "error": {"code": "invalid", "message": exc.message, "fields": exc.fields},
            }
            assert len(store.bots["b"].chatusers) == before
            continue
        answer = _answer(server, session, payload)
        if answer["status"] == 200:
            assert len(answer["payload"]["chatusers"]) == len(payload)
        else:
            assert answer["error"]["code"] == "invalid"
            assert len(store.bots["b"].chatusers) == before
    assert refused > 300


def test_a_vouched_create_does_not_ask_the_schema_and_an_unsure_one_does():
    store = build_store(apikeys=["k"], sitekeys=["b"], state_path=None)
    asked: list[int] = []

    def ctx() -> Context:
        context = Context(store=store, account=store.accounts["k"], bot=store.bots["b"], now_ms=1)
        context.check_schema = lambda: asked.append(1)
        return context

    HANDLERS["chatusers.create"](ctx(), [{"name": "Ada", "last_seen_at": "2026-11-24T09:30:00.000Z"}])
    assert asked == []
    created = HANDLERS["chatusers.create"](ctx(), [{"name": None, "last_seen_at": "2026-11-24T09:30:00Z"}])
    assert asked == [1]
    assert (created["chatusers"][0]["name"], created["chatusers"][0]["last_seen_at"]) == (
        "",
        "2026-11-24T09:30:00.000Z",
    )
    with pytest.raises(SandboxError):
        HANDLERS["chatusers.create"](ctx(), [{"email": "bad"}])
    assert asked == [1, 1]


def test_last_seen_at_is_stored_canonical_on_both_paths():
    pattern = chatusers_create.schema_time_pattern()
    rng = random.Random(3)
    for _ in range(2000):
        ms = rng.randrange(-2_000_000_000_000, 250_000_000_000_000)
        text = iso_ms(ms)
        fields, problems, _ = chatusers_create.check_item({"last_seen_at": text}, pattern)
        assert (fields[9], problems) == (text, [])  # type: ignore[index]
    for given, stored in (
        ("2026-11-24T09:30:00Z", "2026-11-24T09:30:00.000Z"),
        ("2026-11-24T10:30:00.5+01:00", "2026-11-24T09:30:00.500Z"),
        ("2026-11-24", "2026-11-24T00:00:00.000Z"),
    ):
        fields, problems, strict = chatusers_create.check_item({"last_seen_at": given}, pattern)
        assert (fields[9], problems, strict) == (stored, [], False)  # type: ignore[index]
    _, problems, _ = chatusers_create.check_item({"last_seen_at": "2026-02-30T09:30:00.000Z"}, pattern)
    assert problems == ["last_seen_at: must be an ISO 8601 time or null"]


def test_new_tags_and_variables_late_in_a_create_keep_every_key_indexed(raw_ws):
    items = [
        {"email": "a@x.io", "phone": "+391000001", "client_ref": "a"},
        {"email": "b@x.io", "phone": "+391000002", "client_ref": "b", "tags": ["new-one"]},
        {
            "email": "c@x.io",
            "phone": "+391000003",
            "client_ref": "c",
            "variables": [{"name": "v", "value": "1"}],
        },
        {"email": "d@x.io", "phone": "+391000004", "client_ref": "d", "tags": ["new-two"]},
    ]
    created = raw_ws.ok("chatusers.create", items)["chatusers"]

    for item in items:
        for key in ("email", "phone"):
            again = raw_ws.request("chatusers.create", [{key: item[key].upper()}])
            assert again["error"]["fields"] == {"0": f"{key}: already belongs to another chat user"}
        same = raw_ws.ok("chatusers.create", [{"client_ref": item["client_ref"], "name": "other"}])
        assert same["chatusers"][0]["id"] == created[items.index(item)]["id"]
    assert [u["id"] for u in raw_ws.ok("chatusers.get", PAGE)["chatusers"]] == [u["id"] for u in created]


def test_deletes_keep_the_order_and_later_creates_append_to_it(raw_ws, sandbox):
    ids = [
        u["id"] for u in raw_ws.ok("chatusers.create", [{"name": f"n{i}"} for i in range(30)])["chatusers"]
    ]
    ids += [
        u["id"] for u in raw_ws.ok("chatusers.create", [{"name": f"m{i}"} for i in range(30)])["chatusers"]
    ]
    gone = [ids[0], ids[7], ids[29], ids[30], ids[59], "unknown"]
    assert [u["id"] for u in raw_ws.ok("chatusers.get", PAGE)["chatusers"]] == ids  # the order is built

    assert raw_ws.ok("chatusers.delete", {"ids": gone}) == {"deleted": 5}
    kept = [cid for cid in ids if cid not in gone]
    bot: BotState = sandbox.store.bots["test-bot"]
    assert bot.order_stale is False
    assert bot.chatuser_order == kept
    page = raw_ws.ok("chatusers.get", {"offset": 20, "limit": 10})
    assert (page["total"], [u["id"] for u in page["chatusers"]]) == (55, kept[20:30])

    more = [
        u["id"] for u in raw_ws.ok("chatusers.create", [{"name": "late"}, {"name": "later"}])["chatusers"]
    ]
    assert bot.order_stale is False
    assert [u["id"] for u in raw_ws.ok("chatusers.get", PAGE)["chatusers"]] == kept + more
    assert bot.chatuser_order == sorted(bot.chatusers, key=lambda c: (bot.chatusers[c]["created_at"], c))


def test_a_delete_frees_the_keys_of_every_chat_user_it_removes(raw_ws):
    created = raw_ws.ok(
        "chatusers.create",
        [{"email": f"u{i}@x.io", "phone": f"+39100000{i}", "client_ref": f"r{i}"} for i in range(5)],
    )["chatusers"]

    assert raw_ws.ok("chatusers.delete", {"ids": [u["id"] for u in created[1:4]]}) == {"deleted": 3}

    again = raw_ws.ok(
        "chatusers.create",
        [{"email": f"U{i}@x.io", "phone": f"+39100000{i}", "client_ref": f"r{i}"} for i in range(1, 4)],
    )["chatusers"]
    assert len({u["id"] for u in again} | {u["id"] for u in created}) == 8
    taken = raw_ws.request("chatusers.create", [{"email": "u0@x.io"}, {"phone": "+391000004"}])
    assert taken["error"]["fields"] == {
        "0": "email: already belongs to another chat user",
        "1": "phone: already belongs to another chat user",
    }


def test_an_import_that_keeps_a_key_leaves_it_with_its_chat_user(raw_ws):
    (user,) = raw_ws.ok("chatusers.create", [{"email": "Ada@x.io", "phone": "+391234567", "name": "Ada"}])[
        "chatusers"
    ]
    csv = (
        "id,email,phone,name\n"
        f"{user['id']},Ada@x.io,+391234567,Ada L\n"
        f"{user['id']},ada@x.io,+391234567,Ada L\n"
    )

    result = raw_ws.ok("chatusers.import", {"filename": "people.csv", "csv": csv})

    assert (result["updated"], result["unchanged"], result["errors"]) == (2, 0, [])
    (after,) = raw_ws.ok("chatusers.get", PAGE)["chatusers"]
    assert (after["name"], after["email"]) == ("Ada L", "ada@x.io")
    taken = raw_ws.request("chatusers.create", [{"email": "ADA@x.io"}, {"phone": "+391234567"}])
    assert taken["error"]["fields"] == {
        "0": "email: already belongs to another chat user",
        "1": "phone: already belongs to another chat user",
    }


def test_deletes_keep_an_order_that_is_not_in_id_order(raw_ws, sandbox):
    ids = [u["id"] for u in raw_ws.ok("chatusers.create", [{"name": f"n{i}"} for i in range(6)])["chatusers"]]
    bot: BotState = sandbox.store.bots["test-bot"]
    bot.chatusers[ids[1]]["created_at"] = "2100-01-01T00:00:00.000Z"  # written as a seed would
    bot.order_stale = True
    assert [u["id"] for u in raw_ws.ok("chatusers.get", PAGE)["chatusers"]] == [*ids[:1], *ids[2:], ids[1]]
    assert bot.order_by_id is False

    assert raw_ws.ok("chatusers.delete", {"ids": [ids[3], ids[1]]}) == {"deleted": 2}

    assert bot.order_stale is False
    assert [u["id"] for u in raw_ws.ok("chatusers.get", PAGE)["chatusers"]] == [
        ids[0],
        ids[2],
        ids[4],
        ids[5],
    ]
    late = raw_ws.ok("chatusers.create", [{"name": "late"}])["chatusers"][0]["id"]
    assert bot.chatuser_order == [ids[0], ids[2], ids[4], ids[5], late]
    assert bot.order_by_id is False


def test_a_sandbox_made_order_is_in_id_order_and_stays_so(raw_ws, sandbox):
    first = [
        u["id"] for u in raw_ws.ok("chatusers.create", [{"name": f"n{i}"} for i in range(4)])["chatusers"]
    ]
    raw_ws.ok("chatusers.get", PAGE)
    bot: BotState = sandbox.store.bots["test-bot"]
    assert bot.order_by_id is True

    second = [u["id"] for u in raw_ws.ok("chatusers.create", [{"name": "a"}, {"name": "b"}])["chatusers"]]
    assert raw_ws.ok("chatusers.delete", {"ids": [first[2], second[0]]}) == {"deleted": 2}

    assert (bot.order_by_id, bot.order_stale) == (True, False)
    assert bot.chatuser_order == [first[0], first[1], first[3], second[1]]
