"""The protocol client against the sandbox Userbot server, with every payload validated both ways."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest

from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request, Response
from backoffice.userbot.errors import (
    ConnectionLost,
    Forbidden,
    Invalid,
    NotFound,
    NotSent,
    RateLimited,
    TooLarge,
    Unauthenticated,
)
from backoffice.userbot.operations import OPERATIONS
from backoffice.userbot.payloads import ChatUserDraft
from sandbox.dispatch import RETRY_AFTER_S
from sandbox.runner import start_sandbox
from tests.userbot_api import UserbotApi, builder_name, call_many_retrying

APIKEY = "test-key"
SITEKEY = "test-bot"
HANDSHAKE = {"apiLogin", "sitekey"}

SESSION = {
    "id": "s1",
    "wspath": "wsone",
    "chatuser_id": "u0",
    "channel": "webchat",
    "status": "bot",
    "agent_id": None,
    "started_at": "2026-11-24T09:00:00.000Z",
    "last_message_at": "2026-11-24T09:00:05.000Z",
}
MESSAGE = {"id": "m1", "from": "user", "text": "Hi", "at": "2026-11-24T09:00:05.000Z"}
LEAD = {
    "id": "l1",
    "company": "Acme Logistics",
    "domain": "acme-logistics.example",
    "country": "IT",
    "visits": 2,
    "last_visit_at": "2026-11-23T10:00:00.000Z",
    "tags": ["hot"],
}
VISIT = {"url": "https://shop.example.com/", "landed_at": "2026-11-22T10:00:00.000Z", "left_at": None}
PERSON = {"name": "Anna", "surname": "Neri", "role": "CEO", "email": "anna@acme.example", "phone": None}


class RecordingClient(UserbotClient):
    """Remembers the operation of every call, to show which operations a test went through."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operations: list[str] = []

    def call(self, operation: str | Request, payload: Any = None, *, timeout: float | None = None) -> Any:
        name = operation.operation if isinstance(operation, Request) else operation
        self.operations.append(name)
        return super().call(operation, payload, timeout=timeout)


@pytest.fixture
def client(sandbox) -> Iterator[RecordingClient]:
    with RecordingClient(sandbox.url, APIKEY, SITEKEY, validate=True, heartbeat=0, timeout=10) as connected:
        connected.connect()
        yield connected


def people(count: int, start: int = 0) -> list[ChatUserDraft]:
    return [
        {
            "client_ref": f"ref-{i}",
            "name": f"Name{i}",
            "surname": "Rossi",
            "email": f"person{i}@example.com",
            "channel": "webchat",
            "language": "it",
            "tags": ["vip"],
            "variables": [{"name": "plan", "value": "pro"}],
        }
        for i in range(start, start + count)
    ]


def test_every_operation_but_the_handshake_has_a_builder_and_a_method():
    expected = sorted(name for name in OPERATIONS if name not in HANDSHAKE)

    builders = sorted(name for name in expected if callable(getattr(api, builder_name(name), None)))
    methods = sorted(name for name in expected if callable(getattr(UserbotApi, builder_name(name), None)))

    assert builders == expected
    assert methods == expected
    assert not hasattr(api, "apiLogin") and not hasattr(api, "sitekey")


def test_every_operation_round_trips_with_validation(sandbox, client):
    bot = sandbox.store.bots[SITEKEY]
    bot.sessions["s1"] = copy.deepcopy(SESSION)
    bot.messages["s1"] = [copy.deepcopy(MESSAGE)]
    bot.leads["l1"] = copy.deepcopy(LEAD)
    bot.lead_visits["l1"] = [copy.deepcopy(VISIT)]
    bot.lead_people["l1"] = [copy.deepcopy(PERSON)]
    ub = UserbotApi(client)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    me = client.handshake.who["id"]
    events: list[str] = []

    assert ub.who()["id"] == me
    ub.subscribe("chatusers", lambda event: events.append(event.event))
    created = ub.chatusers_create(people(2))["chatusers"]
    first, second = created[0]["id"], created[1]["id"]
    assert ub.chatusers_get(limit=10)["total"] == 2
    assert ub.chatusers_insights(from_date=today, to_date=today)["new"] == 2
    imported = ub.chatusers_import(filename="people.csv", csv=f"id,surname\n{first},Bianchi\n")
    assert (imported["updated"], imported["ids"]) == (1, [first])
    assert ub.chatusers_get_feedback(limit=5) == {"total": 0, "feedback": []}
    tags = ub.chatusers_get_bot_tags()["tags"]
    assert [tag["name"] for tag in tags] == ["vip"]
    tagged = ub.chatusers_add_tag(chatuser_ids=[first], tag_name="gold", color="#ffcc00")
    gold = tagged["tag"]["id"]
    ub.chatusers_remove_tag(chatuser_ids=[first], tag_id=gold)
    segment = ub.chatusers_create_segment(
        name="Gold", match="all", filters=[{"field": "tag", "op": "eq", "value": gold}], client_ref="seg-1"
    )
    edited = ub.chatusers_edit_segment(
        id=segment["id"], name="Any tag", match="any", filters=[{"field": "tag", "op": "exists"}]
    )
    assert edited["count"] == 2
    assert [s["id"] for s in ub.chatusers_get_bot_segments()["segments"]] == [segment["id"]]
    assert ub.chatusers_remove_segment(ids=[segment["id"]]) == {"removed": 1}
    variables = ub.chatusers_get_vars(chatuser_id=first)["variables"]
    assert [(v["name"], v["value"]) for v in variables] == [("plan", "pro")]
    ub.chatusers_set_variable(chatuser_id=first, variable_id=variables[0]["id"], value="basic")
    ub.chatusers_set_variable(chatuser_id=first, name="city", value="Rome")
    ub.chatusers_remove_variable(chatuser_ids=[first, second], variable_id=variables[0]["id"])
    assert {"name": "city", "type": "string"} in ub.bot_get_vars()["variables"]
    assert ub.bot_stats(from_date=today, to_date=today)["bots"][0]["sitekey"] == SITEKEY
    assert ub.robin_sessions(user_id=me, limit=10, offset=0)["total"] == 1
    assert ub.robin_session(user_id=me, session_id="s1")["messages"] == [MESSAGE]
    assert ub.chat_assign_to_agent(session_id="s1", agent_id="agent-7")["status"] == "agent"
    said = ub.say(wspath="wsone", session_id="s1", message="Hello. How can I help? 3.5 stars.")
    assert said["message"]["text"] == "Hello. How can I help? 3.5 stars."
    assert ub.chat_assign_to_bot(session_id="s1")["status"] == "bot"
    interaction = ub.qeafilter_save(label="refund", question="Refund?", answer="Yes", client_ref="qa-1")
    assert ub.qeafilter_search_page_db_ai(query="refund")["total"] == 1
    assert ub.qeafilter_save_token(id=interaction["id"], label="refunds", answer="Within 30 days")[
        "label"
    ] == ("refunds")
    assert ub.qeafilter_delete(id=interaction["id"]) == {"deleted": True, "id": interaction["id"]}
    message = ub.automated_messages_save(
        automated_message={
            "name": "Welcome",
            "trigger": "page_visit",
            "answers": [{"type": "text", "text": "Welcome!"}],
        }
    )
    assert [m["id"] for m in ub.automated_messages_get()["automated_messages"]] == [message["id"]]
    assert ub.automated_messages_delete(id=message["id"]) == {"deleted": True, "id": message["id"]}
    for stats in (
        ub.rawstats_count_nps,
        ub.rawstats_all,
        ub.rawstats_count_messages,
        ub.rawstats_count_sessions,
        ub.rawstats_get,
    ):
        stats(from_date=today, to_date=today)
    assert [lead["id"] for lead in ub.intel_leadlist()] == ["l1"]
    assert ub.intel_visitdetails(lead_id="l1") == [VISIT]
    assert ub.intel_keypeople(lead_id="l1") == [PERSON]
    assert ub.intel_addtag(lead_id="l1", tag="partner") == {"lead_id": "l1", "tags": ["hot", "partner"]}
    assert ub.intel_removetag(lead_id="l1", tag="hot") == {"lead_id": "l1", "tags": ["partner"]}
    booking = {
        "chatuser_id": first,
        "event_uri": "https://calendar.example.com/events/42",
        "start_time": "2026-11-25T10:00:00.000Z",
        "end_time": "2026-11-25T10:30:00.000Z",
        "invitee_email": "giulia@example.com",
    }
    assert ub.meetings_schedule(**booking) == {"ok": True}
    assert ub.meetings_decline(chatuser_id=first, reason="no time") == {"ok": True}
    assert ub.chatusers_delete(ids=[first, "nobody"]) == {"deleted": 1}

    sent = set(client.operations)
    assert sorted(name for name in OPERATIONS if name not in HANDSHAKE and name not in sent) == []
    assert "chatusers.changed" in events
    assert client.reconnects == 0


def test_a_thousand_pipelined_mixed_requests_come_back_in_order(client):
    created = client.call(api.chatusers_create(people(10)))["chatusers"]
    requests: list[Request] = []
    for i in range(1000):
        match i % 4:
            case 0:
                requests.append(api.chatusers_get(offset=i % 10, limit=1))
            case 1:
                requests.append(api.chatusers_get_vars(chatuser_id=created[i % 10]["id"]))
            case 2:
                requests.append(api.chatusers_get_vars(chatuser_id=f"missing-{i}"))
            case _:
                requests.append(api.chatusers_get_bot_tags())

    outcomes = list(client.iter_many(requests))

    assert all(isinstance(o, Response) for o in outcomes)
    assert [o.channel for o in outcomes] == [r.operation for r in requests]
    for i, outcome in enumerate(outcomes):
        match i % 4:
            case 0:
                assert outcome.payload["chatusers"][0]["id"] == created[i % 10]["id"]
            case 1:
                assert outcome.payload["variables"][0]["value"] == "pro"
            case 2:
                assert (outcome.status, outcome.error.code) == (404, "not_found")
            case _:
                assert [t["name"] for t in outcome.payload["tags"]] == ["vip"]


def test_each_error_status_comes_back_as_its_typed_error(sandbox, client):
    with pytest.raises(Invalid) as invalid:
        client.call(api.chatusers_create([{"email": "same@example.com"}, {"email": "same@example.com"}]))
    with pytest.raises(NotFound) as missing:
        client.call(api.chatusers_get_vars(chatuser_id="nobody"))
    with pytest.raises(TooLarge) as too_large:
        client.call(api.chatusers_import(filename="big.csv", csv="name\n" + "x" * (10 * 1024 * 1024)))
    unauthenticated = UserbotClient(sandbox.url, "wrong-key", SITEKEY, heartbeat=0)
    with pytest.raises(Unauthenticated) as refused:
        unauthenticated.connect()
    unauthenticated.close()
    forbidden = UserbotClient(sandbox.url, APIKEY, "not-our-bot", heartbeat=0)
    with pytest.raises(Forbidden) as not_ours:
        forbidden.connect()
    forbidden.close()

    assert (invalid.value.status, invalid.value.code) == (400, "invalid")
    assert invalid.value.fields == {"1": "email: repeats item 0"}
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert (too_large.value.status, too_large.value.code) == (413, "too_large")
    assert (refused.value.status, refused.value.code) == (401, "unauthenticated")
    assert (not_ours.value.status, not_ours.value.code) == (403, "forbidden")
    assert client.call(api.chatusers_get())["total"] == 0  # nothing was created by the refused requests


def test_rate_limited_is_raised_when_the_retries_are_spent():
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), rate_limit_every=2) as sandbox:
        with UserbotClient(sandbox.url, APIKEY, SITEKEY, heartbeat=0, max_rate_limit_retries=0) as client:
            client.connect()  # its who is the first counted request
            with pytest.raises(RateLimited) as raised:
                client.call(api.chatusers_get())
            after = client.call(api.chatusers_get())

    assert after == {"total": 0, "chatusers": []}

    assert (raised.value.status, raised.value.code) == (429, "rate_limited")
    assert raised.value.retry_after == RETRY_AFTER_S


def test_dropped_connections_are_reconnected_and_safe_requests_sent_again():
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), drop_every=7) as sandbox:
        with UserbotClient(sandbox.url, APIKEY, SITEKEY, heartbeat=0, backoff_base=0.01) as client:
            client.connect()
            requests = [api.chatusers_create(people(1, start=i)) for i in range(20)]
            outcomes = call_many_retrying(client, requests, attempts=10)
            (listed,) = call_many_retrying(client, [api.chatusers_get(limit=100)], attempts=3)

    assert [o.status for o in outcomes if isinstance(o, Response)] == [200] * 20
    assert not any(isinstance(o, ConnectionLost) for o in outcomes)
    assert client.reconnects >= 2
    assert sorted(u["client_ref"] for u in listed.payload["chatusers"]) == sorted(
        f"ref-{i}" for i in range(20)
    )


def test_iter_many_streams_outcomes_in_request_order_within_its_window(client):
    client.call(api.chatusers_create(people(30)))
    pages = [api.chatusers_get(offset=offset, limit=3) for offset in range(0, 30, 3)]

    streamed = client.iter_many(pages, window=4)
    first = next(streamed)
    rest = list(streamed)

    refs = [u["client_ref"] for o in [first, *rest] for u in o.payload["chatusers"]]
    assert refs == [f"ref-{i}" for i in range(30)]
    assert [o.status for o in [first, *rest]] == [200] * 10


def test_iter_many_sends_a_rate_limited_request_again_in_its_place():
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), rate_limit_every=4) as sandbox:
        with UserbotClient(sandbox.url, APIKEY, SITEKEY, heartbeat=0, validate=True) as client:
            outcomes = list(client.iter_many([api.chatusers_create(people(1, start=i)) for i in range(12)]))
            total = client.call(api.chatusers_get(limit=100))["total"]

    assert [o.status for o in outcomes] == [200] * 12
    assert [o.payload["chatusers"][0]["client_ref"] for o in outcomes] == [f"ref-{i}" for i in range(12)]
    assert total == 12


def test_iter_many_reports_what_a_drop_cut_off_and_sends_nothing_more():
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), drop_every=5) as sandbox:
        with UserbotClient(sandbox.url, APIKEY, SITEKEY, heartbeat=0) as client:
            client.connect()  # its who is the first counted request
            outcomes = list(
                client.iter_many([api.chatusers_create(people(1, start=i)) for i in range(8)], window=2)
            )
            client_refs = sorted(u["client_ref"] for u in client.call(api.chatusers_get())["chatusers"])

    answered = [o for o in outcomes if isinstance(o, Response)]
    assert [o.status for o in answered] == [200, 200, 200]
    assert isinstance(outcomes[3], ConnectionLost)  # the fifth counted request: applied, unanswered
    assert all(isinstance(o, (ConnectionLost, NotSent)) for o in outcomes[4:])
    assert client_refs == ["ref-0", "ref-1", "ref-2", "ref-3"]
