"""The sandbox keeps the schema's bounds both ways: it refuses a request over one, and what it
answers, even at a bound, is valid for the back office to take."""

from __future__ import annotations

import pytest

from backoffice.userbot import schema
from tests.conftest import RawWs

CREATES_OVER = [
    ({"name": "n" * 201}, "name: must have at most 200 characters"),
    ({"surname": "s" * 201}, "surname: must have at most 200 characters"),
    ({"email": "a" * 250 + "@example.com"}, "email: must have at most 254 characters"),
    ({"tags": ["t" * 101]}, "tags[0]: must have at most 100 characters"),
    (
        {"variables": [{"name": "v" * 201, "value": "x"}]},
        "variables[0].name: must have at most 200 characters",
    ),
]


@pytest.mark.parametrize(("item", "why"), CREATES_OVER)
def test_a_chat_user_over_a_bound_is_refused_and_none_is_made(raw_ws: RawWs, item, why):
    answer = raw_ws.request("chatusers.create", [{"name": "Ada"}, item])

    assert (answer["status"], answer["error"]["fields"]) == (400, {"1": why})
    assert raw_ws.ok("chatusers.get", {"offset": 0, "limit": 10})["total"] == 0


def test_values_at_the_bounds_are_taken_and_answered_valid(raw_ws: RawWs):
    item = {
        "name": "n" * 200,
        "surname": "s" * 200,
        "email": "a" * 242 + "@example.com",
        "tags": ["t" * 100],
        "variables": [{"name": "v" * 200, "value": "x" * 5000}],
    }

    created = raw_ws.ok("chatusers.create", [item])
    listed = raw_ws.ok("chatusers.get", {"offset": 0, "limit": 10})
    tags = raw_ws.ok("chatusers.get-bot-tags")

    schema.validate_response("chatusers.create", created)
    schema.validate_response("chatusers.get", listed)
    schema.validate_response("chatusers.get-bot-tags", tags)
    assert listed["chatusers"][0]["name"] == "n" * 200


@pytest.mark.parametrize(
    ("channel", "payload", "fields"),
    [
        (
            "chatusers.add-tag",
            {"chatuser_ids": [], "tag": {"name": "t" * 101}},
            {"tag": "name: must have at most 100 characters"},
        ),
        (
            "chatusers.create-segment",
            {"name": "s" * 201, "match": "all", "filters": []},
            {"name": "must have at most 200 characters"},
        ),
        (
            "chatusers.create-segment",
            {"name": "S", "match": "all", "filters": [{"field": "email", "op": "eq", "value": "v" * 501}]},
            {"filters": "[0].value: must have at most 500 characters"},
        ),
        (
            "qeafilter.save",
            {"label": "l" * 201, "question": "Q?", "answer": "A."},
            {"label": "must have at most 200 characters"},
        ),
        (
            "automated-messages.save",
            {"name": "Hi", "trigger": "page_visit", "delay_seconds": 2**31},
            {"delay_seconds": "must be at most 2147483647"},
        ),
    ],
)
def test_other_requests_over_a_bound_are_refused(raw_ws: RawWs, channel, payload, fields):
    answer = raw_ws.request(channel, payload)

    assert (answer["status"], answer["error"]["fields"]) == (400, fields)


def test_an_import_row_over_a_bound_is_a_row_error_and_the_others_apply(raw_ws: RawWs):
    csv = (
        "name,email,tags\r\nAda,,\r\n"
        + "n" * 201
        + ",,\r\nBob,,"
        + "t" * 101
        + "\r\nCy,"
        + "a" * 250
        + "@e.com,\r\n"
    )

    answer = raw_ws.ok("chatusers.import", {"filename": "bounds.csv", "csv": csv})

    assert (answer["created"], answer["errors"]) == (
        1,
        [
            {"row": 2, "message": "name: must have at most 200 characters"},
            {"row": 3, "message": "tags: a tag name has at most 100 characters"},
            {"row": 4, "message": "email: must have at most 254 characters"},
        ],
    )


def test_an_import_whose_variable_column_names_too_long_a_name_is_refused_whole(raw_ws: RawWs):
    answer = raw_ws.request(
        "chatusers.import", {"filename": "v.csv", "csv": f"name,var:{'v' * 201}\r\nAda,x\r\n"}
    )

    assert (answer["status"], answer["error"]["fields"]) == (
        400,
        {"csv": "a variable column's name must have at most 200 characters"},
    )
    assert raw_ws.ok("chatusers.get", {"offset": 0, "limit": 10})["total"] == 0
