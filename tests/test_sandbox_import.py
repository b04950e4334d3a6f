"""``chatusers.import`` in the sandbox: every rule of wire contract section 6, with exact counts."""

from __future__ import annotations

PAGE = {"offset": 0, "limit": 1000}


def _import(ws, csv: str) -> dict:
    return ws.ok("chatusers.import", {"filename": "people.csv", "csv": csv})


def _users(ws) -> list[dict]:
    return ws.ok("chatusers.get", PAGE)["chatusers"]


def _by_id(ws) -> dict[str, dict]:
    return {u["id"]: u for u in _users(ws)}


def _assert_silent(ws) -> None:
    ws.send("who")
    assert ws.recv()["channel"] == "who"


def test_import_creates_from_rfc_4180_with_a_bom_and_skips_blank_lines(raw_ws):
    csv = (
        "\ufeffname,surname,email,channel,language,tags,var:note\r\n"
        '"Lovelace, Ada",,ada@x.io,webchat,en,vip|eu,"said ""hi""\nthen left"\r\n'
        "\r\n"
        "Bob,Ross,,,,,\r\n"
    )
    result = _import(raw_ws, csv)
    assert result["errors"] == [{"row": 2, "message": "channel: must not be empty"}]
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 0, 0)
    (ada,) = _users(raw_ws)
    assert result["ids"] == [ada["id"], None]
    tags = {t["name"]: t["id"] for t in raw_ws.ok("chatusers.get-bot-tags")["tags"]}
    assert {
        k: ada[k] for k in ("name", "surname", "email", "phone", "client_ref", "channel", "language")
    } == {
        "name": "Lovelace, Ada",
        "surname": "",
        "email": "ada@x.io",
        "phone": None,
        "client_ref": None,
        "channel": "webchat",
        "language": "en",
    }
    assert ada["tags"] == [tags["vip"], tags["eu"]]
    assert [(v["name"], v["value"]) for v in ada["variables"]] == [("note", 'said "hi"\nthen left')]


def test_a_bad_header_or_malformed_csv_rejects_the_whole_request(raw_ws):
    for csv in (
        "name,nickname\nAda,A\n",
        "name,email,name\nAda,a@x.io,Ada\n",
        "name,var:\nAda,1\n",
        "name,var:   \nAda,1\n",
        "name,var:plan,var:plan\nAda,1,2\n",
        'name,email\nAda,a@x.io\nBob,"unterminated\n',
        'name,email\nAda,"a@x.io"x\n',
        "",
        "\n\n",
    ):
        response = raw_ws.request("chatusers.import", {"filename": "f.csv", "csv": csv})
        assert (response["status"], response["error"]["code"]) == (400, "invalid"), csv
    assert _users(raw_ws) == []
    assert raw_ws.ok("chatusers.get-bot-tags") == {"tags": []}


def test_a_header_alone_imports_nothing(raw_ws):
    assert _import(raw_ws, "name,email\r\n") == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "errors": [],
        "ids": [],
    }


def test_a_csv_over_10_mib_is_413_and_changes_nothing(raw_ws):
    csv = "name\n" + "x" * (10 * 1024 * 1024)
    response = raw_ws.request("chatusers.import", {"filename": "big.csv", "csv": csv})
    assert (response["channel"], response["status"], response["error"]["code"]) == (
        "chatusers.import",
        413,
        "too_large",
    )
    assert _users(raw_ws) == []


def test_row_errors_are_numbered_from_1_and_change_nothing(raw_ws):
    csv = (
        "id,name,email,phone,language\n,Ok,,,\nnobody,X,,,\n,Short\n"
        ",Bad,not-an-email,,\n,Bad,,12345,\n,Bad,,,xx\n"
    )
    result = _import(raw_ws, csv)
    assert [e["row"] for e in result["errors"]] == [2, 3, 4, 5, 6]
    assert result["errors"][0] == {"row": 2, "message": "no chat user has id nobody"}
    assert result["errors"][1] == {"row": 3, "message": "the row has 2 cells; the header has 5"}
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 0, 0)
    assert result["ids"][1:] == [None] * 5
    assert [u["name"] for u in _users(raw_ws)] == ["Ok"]


def test_rows_match_by_id_then_client_ref_then_email_then_phone(raw_ws):
    a, b, c, d = raw_ws.ok(
        "chatusers.create",
        [
            {"name": "A", "client_ref": "ref-a"},
            {"name": "B", "email": "b@x.io"},
            {"name": "C", "phone": "+391111111"},
            {"name": "D", "client_ref": "ref-d"},
        ],
    )["chatusers"]
    csv = (
        "id,client_ref,email,phone,name\n"
        f"{d['id']},,,,D2\n"
        ",ref-a,nobody@x.io,,A2\n"
        ",,B@X.IO,,B2\n"
        ",,,+391111111,C2\n"
        ",ref-new,,,E\n"
    )
    result = _import(raw_ws, csv)
    assert (result["created"], result["updated"], result["unchanged"], result["errors"]) == (1, 4, 0, [])
    assert result["ids"][:4] == [d["id"], a["id"], b["id"], c["id"]]
    users = _by_id(raw_ws)
    assert [users[u["id"]]["name"] for u in (a, b, c, d)] == ["A2", "B2", "C2", "D2"]
    # a present client_ref column with an empty cell clears it; an empty email clears it to null
    assert users[a["id"]]["client_ref"] == "ref-a"
    assert users[a["id"]]["email"] == "nobody@x.io"
    assert users[b["id"]]["email"] == "B@X.IO"
    assert users[d["id"]]["client_ref"] is None
    assert users[result["ids"][4]]["client_ref"] == "ref-new"


def test_a_row_whose_keys_point_at_two_chat_users_is_an_error(raw_ws):
    a, b = raw_ws.ok(
        "chatusers.create",
        [{"client_ref": "a", "email": "a@x.io"}, {"email": "b@x.io", "phone": "+392222222"}],
    )["chatusers"]
    csv = f"id,client_ref,email,phone\n{a['id']},a,b@x.io,\n,a,,+392222222\n,,a@x.io,+392222222\n"
    result = _import(raw_ws, csv)
    assert [e["row"] for e in result["errors"]] == [1, 2, 3]
    assert result["ids"] == [None, None, None]
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 0, 0)
    assert _by_id(raw_ws) == {a["id"]: a, b["id"]: b}


def test_empty_cells_clear_and_absent_columns_keep(raw_ws):
    (user,) = raw_ws.ok(
        "chatusers.create",
        [
            {
                "client_ref": "r",
                "name": "Ada",
                "surname": "L",
                "email": "a@x.io",
                "phone": "+393333333",
                "language": "it",
                "channel": "telegram",
                "tags": ["x", "y"],
                "variables": [{"name": "plan", "value": "pro"}, {"name": "city", "value": "Rome"}],
            }
        ],
    )["chatusers"]
    csv = f"id,name,email,phone,language,tags,var:plan\n{user['id']},,,,,,\n"
    result = _import(raw_ws, csv)
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 1, 0)
    after = _by_id(raw_ws)[user["id"]]
    assert {
        k: after[k]
        for k in ("client_ref", "name", "surname", "email", "phone", "language", "channel", "tags")
    } == {
        "client_ref": "r",
        "name": "",
        "surname": "L",
        "email": None,
        "phone": None,
        "language": "",
        "channel": "telegram",
        "tags": [],
    }
    assert [(v["name"], v["value"]) for v in after["variables"]] == [("city", "Rome")]
    assert after["updated_at"] > user["updated_at"]


def test_tags_replace_as_a_set_and_unchanged_rows_keep_updated_at(raw_ws):
    (user,) = raw_ws.ok(
        "chatusers.create",
        [{"client_ref": "r", "name": "Ada", "tags": ["a", "b"], "variables": [{"name": "v", "value": "1"}]}],
    )["chatusers"]
    raw_ws.call("subscribe chatusers")
    same = _import(raw_ws, "client_ref,name,tags,var:v\nr,Ada,B|a,1\nr,Ada,a|b|A,1\n")
    assert (same["created"], same["updated"], same["unchanged"], same["ids"]) == (0, 0, 2, [user["id"]] * 2)
    assert _by_id(raw_ws)[user["id"]] == user
    _assert_silent(raw_ws)
    changed = _import(raw_ws, "client_ref,tags\nr,b|c\n")
    assert (changed["updated"], changed["unchanged"]) == (1, 0)
    after = _by_id(raw_ws)[user["id"]]
    tags = {t["name"]: t["id"] for t in raw_ws.ok("chatusers.get-bot-tags")["tags"]}
    assert after["tags"] == [tags["b"], tags["c"]]
    assert raw_ws.events == [
        {
            "event": "chatusers.changed",
            "payload": {"op": "updated", "id": user["id"], "updated_at": after["updated_at"]},
        }
    ]


def test_a_later_row_sees_what_an_earlier_row_did(raw_ws):
    result = _import(
        raw_ws,
        "client_ref,email,name,var:step\nnew-1,n@x.io,First,1\nnew-1,n@x.io,Second,2\n,N@x.io,Third,\n",
    )
    assert (result["created"], result["updated"], result["unchanged"], result["errors"]) == (1, 2, 0, [])
    assert len(set(result["ids"])) == 1
    (user,) = _users(raw_ws)
    assert (user["name"], user["client_ref"], user["variables"]) == ("Third", None, [])


def test_counts_add_up_to_the_rows(raw_ws):
    raw_ws.ok("chatusers.create", [{"client_ref": "keep", "name": "K"}, {"client_ref": "edit", "name": "E"}])
    csv = "client_ref,name,channel\nkeep,K,api\nedit,E2,api\nfresh,F,webchat\nbad,B,\n\nother,O,sms\n"
    result = _import(raw_ws, csv)
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 1, 1)
    assert [e["row"] for e in result["errors"]] == [4, 5]
    assert result["created"] + result["updated"] + result["unchanged"] + len(result["errors"]) == 5
    assert len(result["ids"]) == 5
