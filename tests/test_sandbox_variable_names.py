"""A variable name of only blanks is refused wherever a name is given, like every other name."""

from __future__ import annotations

PAGE = {"offset": 0, "limit": 1000}


def test_a_blank_variable_name_is_refused_on_create(raw_ws):
    answer = raw_ws.request(
        "chatusers.create", [{"name": "Ada"}, {"variables": [{"name": "  ", "value": "x"}]}]
    )

    assert (answer["status"], answer["error"]["fields"]) == (
        400,
        {"1": "variables: a name must not be only blanks"},
    )
    assert raw_ws.ok("chatusers.get", PAGE) == {"total": 0, "chatusers": []}


def test_a_blank_variable_name_is_refused_on_set_variable(raw_ws):
    [ada] = raw_ws.ok("chatusers.create", [{"name": "Ada"}])["chatusers"]

    answer = raw_ws.request(
        "chatusers.set-variable", {"chatuser_id": ada["id"], "variable": {"name": "\t ", "value": "x"}}
    )

    assert (answer["status"], answer["error"]["fields"]) == (
        400,
        {"variable": "name: must not be only blanks"},
    )
    assert raw_ws.ok("chatusers.get", PAGE)["chatusers"] == [ada]
    assert raw_ws.ok("bot.get-vars") == {"variables": []}


def test_a_blank_variable_column_of_an_import_is_refused(raw_ws):
    answer = raw_ws.request("chatusers.import", {"filename": "f.csv", "csv": "name,var: \nAda,1\n"})

    assert (answer["status"], answer["error"]["fields"]) == (400, {"csv": "unknown column 'var: '"})
    assert raw_ws.ok("chatusers.get", PAGE) == {"total": 0, "chatusers": []}


def test_a_blank_variable_name_is_refused_in_a_filter_or_condition(raw_ws):
    segment = raw_ws.request(
        "chatusers.create-segment",
        {"name": "s", "match": "all", "filters": [{"field": "variable", "op": "exists", "name": " "}]},
    )
    message = raw_ws.request(
        "automated-messages.save",
        {
            "name": "a",
            "trigger": "page_visit",
            "conditions": [{"field": "variable", "op": "exists", "name": " "}],
        },
    )

    assert (segment["status"], segment["error"]["fields"]) == (
        400,
        {"filters.0": "name is required with field variable"},
    )
    assert (message["status"], message["error"]["fields"]) == (
        400,
        {"conditions[0].name": "required with variable"},
    )
    assert raw_ws.ok("chatusers.get-bot-segments") == {"segments": []}
    assert raw_ws.ok("automated-messages.get") == {"automated_messages": []}


def test_a_variable_name_with_blanks_around_it_is_kept_as_given(raw_ws):
    [ada] = raw_ws.ok("chatusers.create", [{"variables": [{"name": " plan ", "value": "gold"}]}])["chatusers"]

    assert [(v["name"], v["value"]) for v in ada["variables"]] == [(" plan ", "gold")]
