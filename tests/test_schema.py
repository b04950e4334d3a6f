"""Payload validation: which payloads pass, and exactly which fields a bad one names."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from backoffice.userbot import asyncapi, codec, schema
from backoffice.userbot.errors import PayloadInvalid, UnknownChannel
from backoffice.userbot.operations import OPERATIONS

ID = "6571c0f2a9e4b1d3c8f00100"
CHATUSER: dict[str, Any] = {
    "id": ID,
    "client_ref": None,
    "name": "Marco",
    "surname": "Bianchi",
    "email": "marco@example.com",
    "phone": "+393471234567",
    "channel": "webchat",
    "language": "it",
    "tags": [],
    "variables": [],
    "created_at": "2026-11-24T09:30:00.000Z",
    "updated_at": "2026-11-24T09:30:00.000Z",
    "last_seen_at": None,
}

GOOD_REQUESTS: list[tuple[str, Any]] = [
    ("apiLogin", {"apikey": "123456789wasd"}),
    ("sitekey", {"sitekey": "bbfad81389103ba06485d07bfedb4036"}),
    ("who", None),
    ("subscribe", {"topic": "chat"}),
    ("robin.sessions", {"user_id": "7", "limit": 1000, "offset": 0}),
    ("robin.session", {"user_id": "7", "session_id": "42"}),
    ("say", {"wspath": "w7k2", "session_id": "42", "message": "Hi. How can I help? {x: 1}"}),
    ("bot.get-vars", None),
    ("bot.stats", {"from": "2026-11-01", "to": "2026-11-30"}),
    ("chatusers.get", {"offset": 0, "limit": 1, "search": "", "segment_id": ID}),
    ("chatusers.create", [{}]),
    (
        "chatusers.create",
        [
            {
                "email": None,
                "phone": None,
                "client_ref": None,
                "language": "",
                "last_seen_at": None,
                "tags": ["vip"],
                "variables": [],
            }
        ],
    ),
    ("chatusers.delete", {"ids": []}),
    ("chatusers.import", {"filename": "a.csv", "csv": ""}),
    ("chatusers.get-feedback", {"offset": 5, "limit": 20}),
    ("chatusers.create-segment", {"name": "All", "match": "all", "filters": []}),
    (
        "chatusers.edit-segment",
        {"id": ID, "name": "Old", "match": "any", "filters": [{"field": "tag", "op": "exists"}]},
    ),
    ("chatusers.remove-segment", [ID]),
    ("chatusers.add-tag", {"chatuser_ids": [], "tag": {"name": "vip"}}),
    ("chatusers.add-tag", {"chatuser_ids": [ID], "tag": {"id": ID}}),
    ("chatusers.remove-tag", {"chatuser_ids": [ID], "element_id": ID}),
    ("chatusers.set-variable", {"chatuser_id": ID, "variable_id": ID, "value": ""}),
    ("chatusers.set-variable", {"chatuser_id": ID, "variable": {"name": "plan", "value": "gold"}}),
    ("qeafilter.save", {"label": "refund", "question": "How?", "answer": "Like so.", "enabled": False}),
    ("qeafilter.save.token", {"id": ID, "token": "<refund>"}),
    ("automated-messages.save", {"name": "Hi", "trigger": "page_visit"}),
    ("automated-messages.save", {"id": ID}),
    ("automated-messages.save", {"id": ID, "answers": [{"type": "image", "url": "https://x.example/a.png"}]}),
    ("intel.leadlist", None),
    ("meetings.decline", {"chatuser_id": ID, "reason": ""}),
]

BAD_REQUESTS: list[tuple[str, Any, dict[str, str]]] = [
    # lists
    ("chatusers.get", {"offset": 0, "limit": 0}, {"limit": "must be at least 1"}),
    ("chatusers.get", {"offset": 0, "limit": 1001}, {"limit": "must be at most 1000"}),
    ("chatusers.get", {"offset": -1, "limit": 10}, {"offset": "must be at least 0"}),
    ("chatusers.get", {"offset": 0, "limit": "10"}, {"limit": "must be an integer"}),
    ("chatusers.get", {"offset": 0, "limit": True}, {"limit": "must be an integer"}),
    ("chatusers.get", {"offset": 0, "limit": 10, "limt": 5}, {"limt": "unknown property"}),
    ("chatusers.get", {"limit": 10}, {"offset": "required"}),
    ("chatusers.get", {}, {"offset": "required", "limit": "required"}),
    ("chatusers.get", [], {"payload": "must be an object"}),
    ("chatusers.get", {"offset": 0, "limit": 10, "segment_id": ""}, {"segment_id": "must not be empty"}),
    (
        "chatusers.get-feedback",
        {"offset": 0, "limit": 1001, "chatuser_id": 5},
        {"limit": "must be at most 1000", "chatuser_id": "must be a string"},
    ),
    ("qeafilter.search.page-db-ai", {"offset": 0.5, "limit": 1}, {"offset": "must be an integer"}),
    # JSON Schema takes 2.0 for an integer; the contract does not
    (
        "chatusers.get",
        {"offset": 0, "limit": 2.0},
        {"limit": "must be an integer, written without a fraction"},
    ),
    (
        "chatusers.get",
        {"offset": -0.0, "limit": 1e2},
        {
            "limit": "must be an integer, written without a fraction",
            "offset": "must be an integer, written without a fraction",
        },
    ),
    (
        "chatusers.get-feedback",
        {"offset": 1.0, "limit": 5, "extra": True},
        {"extra": "unknown property", "offset": "must be an integer, written without a fraction"},
    ),
    (
        "automated-messages.save",
        {"id": ID, "delay_seconds": 30.0},
        {"delay_seconds": "must be an integer, written without a fraction"},
    ),
    # creates: the item index is the key, the rest of the path is in the message
    ("chatusers.create", [], {"payload": "must not be empty"}),
    ("chatusers.create", {"name": "x"}, {"payload": "must be an array"}),
    ("chatusers.create", [{}] * 1001, {"payload": "must have at most 1000 items"}),
    (
        "chatusers.create",
        [{"name": "ok"}, {"phone": "0039347"}],
        {"1": "phone: does not match the E.164 phone pattern"},
    ),
    (
        "chatusers.create",
        [{"phone": "+393471234567\n"}],
        {"0": "phone: does not match the E.164 phone pattern"},
    ),
    ("chatusers.create", [{"email": "marco@example"}], {"0": "email: does not match the email pattern"}),
    ("chatusers.create", [{"language": "ita"}], {"0": "language: is not a valid ISO 639-1 language code"}),
    ("chatusers.create", [{"language": "EN"}], {"0": "language: is not a valid ISO 639-1 language code"}),
    (
        "chatusers.create",
        [{"channel": "sms"}],
        {"0": 'channel: must be one of: "webchat", "whatsapp", "messenger", "instagram", "telegram", "api"'},
    ),
    ("chatusers.create", [{"id": ID}], {"0": "id: unknown property"}),
    ("chatusers.create", [{"created_at": "2026-11-24T09:30:00.000Z"}], {"0": "created_at: unknown property"}),
    (
        "chatusers.create",
        [{"client_ref": ""}, {"client_ref": "x" * 65}],
        {"0": "client_ref: must not be empty", "1": "client_ref: must have at most 64 characters"},
    ),
    ("chatusers.create", [{"tags": [ID, ""]}], {"0": "tags[1]: must not be empty"}),
    ("chatusers.create", [{"variables": [{"name": "plan"}]}], {"0": "variables[0].value: required"}),
    (
        "chatusers.create",
        [{"variables": [{"name": "plan", "value": 3, "id": ID}]}],
        {"0": "variables[0].id: unknown property; variables[0].value: must be a string"},
    ),
    (
        "chatusers.create",
        [{"last_seen_at": "2026-11-24T09:30:00Z"}],
        {"0": "last_seen_at: does not match the time pattern"},
    ),
    (
        "chatusers.create",
        [{}, {}, {}, {"email": "x", "phone": "1"}],
        {"3": "email: does not match the email pattern; phone: does not match the E.164 phone pattern"},
    ),
    ("chatusers.create", ["marco"], {"0": "must be an object"}),
    # segments and their filters
    (
        "chatusers.create-segment",
        {"name": "", "match": "some", "filters": [{"field": "city", "op": "is"}]},
        {
            "name": "must not be empty",
            "match": 'must be one of: "all", "any"',
            "filters": '[0].field: must be one of: "tag", "variable", "channel", "language", "email", '
            '"created_at", "last_seen_at"; [0].op: must be one of: "eq", "neq", "contains", "gt", '
            '"lt", "exists", "not_exists"',
        },
    ),
    (
        "chatusers.create-segment",
        {"name": "A", "match": "all", "filters": [{"field": "tag", "value": ID}]},
        {"filters": "[0].op: required"},
    ),
    ("chatusers.edit-segment", {"name": "A", "match": "all", "filters": []}, {"id": "required"}),
    ("chatusers.remove-segment", {"ids": [ID]}, {"payload": "must be an array"}),
    # tags and variables
    (
        "chatusers.add-tag",
        {"chatuser_ids": [ID], "tag": {"id": ID, "name": "vip"}},
        {"tag": "name: not allowed with id"},
    ),
    ("chatusers.add-tag", {"chatuser_ids": [ID], "tag": {"color": "#ffffff"}}, {"tag": "name: required"}),
    (
        "chatusers.add-tag",
        {"chatuser_ids": [ID], "tag": {"name": "vip", "color": "red"}},
        {"tag": "color: does not match the colour pattern"},
    ),
    ("chatusers.add-tag", {"chatuser_ids": ID, "tag": {"name": "vip"}}, {"chatuser_ids": "must be an array"}),
    (
        "chatusers.remove-tag",
        {"chatuser_ids": [ID, 7]},
        {"chatuser_ids": "[1]: must be a string", "element_id": "required"},
    ),
    ("chatusers.set-variable", {"chatuser_id": ID}, {"variable_id": "required", "value": "required"}),
    (
        "chatusers.set-variable",
        {"chatuser_id": ID, "variable": {"name": "a", "value": "b"}, "variable_id": ID},
        {"variable_id": "not allowed with variable"},
    ),
    (
        "chatusers.set-variable",
        {"chatuser_id": ID, "variable": {"name": "", "value": "b"}},
        {"variable": "name: must not be empty"},
    ),
    # knowledge base and automation
    ("qeafilter.save", {"label": "refund", "question": "q"}, {"answer": "required"}),
    (
        "qeafilter.save",
        {"label": "refund", "question": "", "answer": ""},
        {"question": "must not be empty", "answer": "must not be empty"},
    ),
    (
        "qeafilter.save.token",
        {"id": ID, "token": "<refund>", "answer": ""},
        {"answer": "must not be empty"},
    ),
    (
        "qeafilter.save",
        {"label": "r", "question": "q", "answer": "a", "language": "xx", "enabled": "yes"},
        {"language": "is not a valid ISO 639-1 language code", "enabled": "must be true or false"},
    ),
    ("qeafilter.save.token", {"id": ID, "token": "refund"}, {"token": "does not match the <label> pattern"}),
    ("qeafilter.save.token", {"id": ID, "token": "<>"}, {"token": "does not match the <label> pattern"}),
    ("automated-messages.save", {"enabled": True}, {"name": "required", "trigger": "required"}),
    (
        "automated-messages.save",
        {"name": "Hi", "trigger": "on_load", "delay_seconds": -1},
        {
            "trigger": 'must be one of: "page_visit", "time_on_page", "returning_user", "exit_intent"',
            "delay_seconds": "must be at least 0",
        },
    ),
    (
        "automated-messages.save",
        {
            "id": ID,
            "answers": [
                {"type": "buttons", "text": "Pick", "buttons": []},
                {"type": "image"},
                {"type": "text"},
            ],
        },
        {"answers": "[0].buttons: must not be empty; [1].url: required; [2].text: required"},
    ),
    (
        "automated-messages.save",
        {"id": ID, "conditions": [{"field": "page", "op": "eq", "value": "/"}]},
        {"conditions": '[0].field: must be one of: "url", "language", "channel", "tag", "variable"'},
    ),
    # stats, intel, meetings
    ("rawstats.count-nps", {"from": "2026-11-01"}, {"to": "required"}),
    (
        "rawstats.all",
        {"from": "2026-13-01", "to": "01/12/2026"},
        {"from": "does not match the date pattern", "to": "does not match the date pattern"},
    ),
    (
        "chatusers.insights",
        {"from": "2026-11-01T00:00:00.000Z", "to": "2026-11-30"},
        {"from": "does not match the date pattern"},
    ),
    ("intel.addtag", {"lead_id": ID, "tag": ""}, {"tag": "must not be empty"}),
    (
        "meetings.schedule",
        {
            "chatuser_id": ID,
            "event_uri": "calendly event",
            "start_time": "2026-11-26T15:00:00Z",
            "end_time": "2026-11-26T15:30:00.000Z",
            "invitee_email": None,
        },
        {
            "event_uri": "does not match the URI pattern",
            "start_time": "does not match the time pattern",
            "invitee_email": "must be a string",
        },
    ),
    # command form, in the shape codec.parse_payload gives it
    ("apiLogin", {}, {"apikey": "required"}),
    ("apiLogin", {"apikey": "two words"}, {"apikey": "does not match the API key pattern"}),
    ("subscribe", {"topic": "orders"}, {"topic": 'must be one of: "chat", "chatusers"'}),
    ("robin.sessions", {"user_id": "7", "limit": "ten", "offset": 0}, {"limit": "must be an integer"}),
    ("robin.sessions", {"user_id": "7", "limit": 0, "offset": 0}, {"limit": "must be at least 1"}),
    ("robin.sessions", {"user_id": "7", "limit": 1001, "offset": 0}, {"limit": "must be at most 1000"}),
    (
        "say",
        {"wspath": "w.7", "session_id": "42", "message": ""},
        {"wspath": "does not match the wspath pattern", "message": "must not be empty"},
    ),
]

NO_PAYLOAD = [
    "who",
    "bot.get-vars",
    "chatusers.get-bot-segments",
    "chatusers.get-bot-tags",
    "automated-messages.get",
    "intel.leadlist",
]


@pytest.mark.parametrize(("operation", "payload"), GOOD_REQUESTS)
def test_a_good_request_passes(operation, payload):
    before = copy.deepcopy(payload)

    schema.validate_request(operation, payload)

    assert payload == before


@pytest.mark.parametrize(("operation", "payload", "fields"), BAD_REQUESTS)
def test_a_bad_request_names_each_bad_field(operation, payload, fields):
    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_request(operation, payload)

    assert raised.value.fields == fields


def test_the_message_counts_and_names_the_bad_fields():
    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_request("chatusers.get", {"offset": "0", "limit": 0, "extra": 1})

    assert raised.value.message == "3 invalid fields: extra, limit, offset"
    assert str(raised.value) == raised.value.message


def test_the_message_of_a_single_bad_field():
    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_request("chatusers.get", {"offset": 0, "limit": 1001})

    assert raised.value.message == "1 invalid field: limit"


def test_create_items_are_keyed_by_index_in_numeric_order_and_the_message_is_bounded():
    items = [{"phone": "bad"} if i % 50 == 0 else {} for i in range(1000)]

    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_request("chatusers.create", items)

    assert list(raised.value.fields) == [str(i) for i in range(0, 1000, 50)]
    assert (
        raised.value.message == "20 invalid fields: 0, 50, 100, 150, 200, 250, 300, 350, 400, 450 and 10 more"
    )


@pytest.mark.parametrize("operation", NO_PAYLOAD)
def test_an_operation_without_payload_refuses_one(operation):
    for payload in ({}, [], "", 0, {"offset": 0}):
        with pytest.raises(PayloadInvalid) as raised:
            schema.validate_request(operation, payload)
        assert raised.value.fields == {"payload": "must be absent"}
        assert raised.value.message == f"{operation} takes no payload"
    schema.validate_request(operation, None)


def test_an_operation_with_a_payload_requires_one():
    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_request("chatusers.delete", None)

    assert raised.value.fields == {"payload": "required"}


def test_an_unknown_operation_or_event_is_an_unknown_channel():
    with pytest.raises(UnknownChannel):
        schema.validate_request("chatusers.purge", {})
    with pytest.raises(UnknownChannel):
        schema.validate_response("events", {})
    with pytest.raises(UnknownChannel):
        schema.validate_event("chat.typing", {})


@pytest.mark.parametrize(
    "frame",
    [
        "apiLogin 123456789wasd",
        "sitekey undefined bbfad81389103ba06485d07bfedb4036",
        "who",
        "subscribe chatusers",
        "robin sv 7 get sessions 20 0",
        "robin sv 7 get 42",
        "say.w7k2.-100.42.Your parcel left. Tracking soon.",
        'chatusers.get {"offset":0,"limit":100}',
        "chatusers.get-bot-tags",
        "chatusers.get-bot-tags {}",
    ],
)
def test_what_the_codec_parses_from_a_good_frame_passes(frame):
    request = codec.decode_request(frame)

    schema.validate_request(request.operation, request.payload)


def test_a_command_frame_with_bad_numbers_fails_on_the_field():
    request = codec.decode_request("robin sv 7 get sessions 2000 x")

    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_request(request.operation, request.payload)

    assert raised.value.fields == {"limit": "must be at most 1000", "offset": "must be an integer"}


def test_a_response_may_carry_properties_a_newer_server_added():
    schema.validate_response(
        "chatusers.get", {"total": 1, "chatusers": [{**CHATUSER, "score": 7}], "next": None}
    )


def test_a_response_missing_a_field_or_with_a_wrong_value_is_invalid():
    broken = {key: value for key, value in CHATUSER.items() if key != "updated_at"}

    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_response("chatusers.get", {"total": -1, "chatusers": [{**broken, "channel": "fax"}]})

    assert raised.value.fields == {
        "chatusers": '[0].updated_at: required; [0].channel: must be one of: "webchat", "whatsapp", '
        '"messenger", "instagram", "telegram", "api"',
        "total": "must be at least 0",
    }


def test_a_response_with_a_whole_float_inside_an_array_names_its_place():
    day = {"date": "2026-11-24", "sessions": 1, "messages": 2, "chatusers": 0, "handovers": 0}

    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_response("rawstats.all", {"days": [day, {**day, "messages": 2.0}]})

    assert raised.value.fields == {"days": "[1].messages: must be an integer, written without a fraction"}
    assert raised.value.message == "1 invalid field: days"


def test_a_number_where_the_schema_asks_a_number_may_carry_a_fraction():
    schema.validate_response(
        "rawstats.get", {"orders": 3, "revenue": 10.0, "currency": "EUR", "conversion_rate": 1.0}
    )


def test_an_event_payload_is_validated():
    schema.validate_event(
        "chatusers.changed", {"op": "deleted", "id": ID, "updated_at": "2026-11-24T09:30:00.000Z"}
    )

    with pytest.raises(PayloadInvalid) as raised:
        schema.validate_event("chatusers.changed", {"op": "merged", "id": ID})

    assert raised.value.fields == {
        "op": 'must be one of: "created", "updated", "deleted"',
        "updated_at": "required",
    }


def test_schemas_are_self_contained_and_callers_get_their_own_copy():
    request = asyncapi.request_schema("chatusers.create")
    assert request is not None
    assert "$ref" not in repr(request)
    assert request["items"]["properties"]["phone"]["pattern"] == r"^\+[1-9][0-9]{1,14}\Z"

    request["maxItems"] = 1
    schema.validate_request("chatusers.create", [{}, {}])

    assert asyncapi.request_schema("chatusers.create")["maxItems"] == 1000
    assert "$ref" not in repr(asyncapi.response_schema("chatusers.get"))
    assert asyncapi.event_schema("chat.message")["required"] == ["session_id", "message"]


def test_every_operation_has_a_compiled_response_schema():
    for operation in OPERATIONS:
        assert asyncapi.response_schema(operation)["$schema"] == "http://json-schema.org/draft-07/schema#"


# Chat users the list's item schema refuses, each for one reason: what a page of a million
# is first checked against, in one call of compiled code, must refuse every one of them as
# the checks that name the fields do (an end anchor read as Python's ``$`` would let the
# newline through).
REFUSED_CHATUSERS: list[dict[str, Any]] = [
    {**CHATUSER, "phone": "+393471234567\n"},
    {**CHATUSER, "email": "marco@example.com\n"},
    {**CHATUSER, "email": "no-at-sign"},
    {**CHATUSER, "created_at": "2026-11-24T09:30:00.000Z\n"},
    {**CHATUSER, "updated_at": "2026-13-24T09:30:00.000Z"},
    {**CHATUSER, "last_seen_at": "yesterday"},
    {**CHATUSER, "channel": "fax"},
    {**CHATUSER, "language": "xx"},
    {**CHATUSER, "name": "n" * 201},
    {**CHATUSER, "name": None},
    {**CHATUSER, "id": ""},
    {**CHATUSER, "id": 7},
    {**CHATUSER, "client_ref": "r" * 65},
    {**CHATUSER, "tags": "vip"},
    {**CHATUSER, "tags": [1]},
    {**CHATUSER, "variables": [{"name": "plan"}]},
    {**CHATUSER, "variables": [{"id": "v", "name": "plan", "value": 3}]},
    {key: value for key, value in CHATUSER.items() if key != "updated_at"},
    [CHATUSER],
    None,
]


@pytest.mark.parametrize("bad", REFUSED_CHATUSERS, ids=range(len(REFUSED_CHATUSERS)))
def test_the_page_check_in_compiled_code_refuses_what_the_item_check_refuses(bad):
    checked = schema.check_items("chatusers.get", "chatusers", [CHATUSER, bad])

    assert checked.items == [CHATUSER]
    assert len(checked.rejected) == 1
    assert schema._all_items_valid("chatusers.get", "chatusers")([CHATUSER]) is True
    assert schema._all_items_valid("chatusers.get", "chatusers")([CHATUSER, bad]) is False
