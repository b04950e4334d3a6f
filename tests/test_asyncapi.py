"""The AsyncAPI document against Userbot's published page, the operation table and itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from websockets.sync.client import connect

from backoffice.userbot import asyncapi, schema
from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.iso639 import LANGUAGES
from backoffice.userbot.operations import EVENTS, OPERATIONS
from sandbox.dispatch import RETRY_AFTER_S, UNCOUNTED
from sandbox.runner import start_sandbox

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / "userbot-asyncapi.txt"
SEED_TOP_TAGS = {
    "chatusers",
    "bot",
    "automated-messages",
    "stats",
    "nps",
    "login",
    "apiLogin",
    "sitekey",
    "qeafilter",
    "chat",
    "chat-notification",
    "intel",
    "meetings",
}
EXTRA_OPERATION_TAGS = {"feedback", "segments", "tag"}
COMMAND_FRAMES = {
    "apiLogin": "apiLogin <apikey>",
    "sitekey": "sitekey undefined <sitekey>",
    "who": "who",
    "subscribe": "subscribe <topic>",
    "robin.sessions": "robin sv <user.id> get sessions <limit> <offset>",
    "robin.session": "robin sv <user.id> get <session.id>",
    "say": "say.<wspath>.-100.<session.id>.<chat_message>",
}
SECTION_4_OBJECTS = {
    "ChatUser",
    "Tag",
    "Variable",
    "Segment",
    "SegmentFilter",
    "Feedback",
    "Interaction",
    "AutomatedMessage",
    "AutomatedMessageCondition",
    "Answer",
    "Button",
    "Session",
    "Message",
    "Lead",
    "Visit",
    "KeyPerson",
    "ErrorResponse",
}
DIRECTIONS = {"publish": "PUB", "subscribe": "SUB"}

# Keys AsyncAPI 2.6.0 allows on each object (besides x- extensions).
CHANNEL_KEYS = {"$ref", "description", "servers", "subscribe", "publish", "parameters", "bindings"}
OPERATION_KEYS = {
    "operationId",
    "summary",
    "description",
    "security",
    "tags",
    "externalDocs",
    "bindings",
    "traits",
    "message",
}
MESSAGE_KEYS = {
    "messageId",
    "headers",
    "payload",
    "correlationId",
    "schemaFormat",
    "contentType",
    "name",
    "title",
    "summary",
    "description",
    "tags",
    "externalDocs",
    "bindings",
    "examples",
    "traits",
}
EXAMPLE_KEYS = {"headers", "payload", "name", "summary"}


def _seed_text() -> str:
    if not SEED.is_file():
        pytest.skip(f"Userbot's published AsyncAPI page is not next to the repository ({SEED.name})")
    return SEED.read_text(encoding="utf-8")


def _seed_operations() -> list[dict[str, Any]]:
    """Each PUB or SUB of the seed page: its channel, operation id and tags, in page order."""
    operations: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in _seed_text().split("Messages\n", 1)[0].splitlines():
        heading = re.fullmatch(r"\s*• (PUB|SUB) (\S+)", line)
        if heading:
            current = {"kind": heading[1], "channel": heading[2], "id": None, "tags": []}
            operations.append(current)
            continue
        if current is None:
            continue
        operation_id = re.fullmatch(r"\s*Operation ID(\S+)", line)
        if operation_id:
            current["id"] = operation_id[1]
        elif current["id"] and not current.get("tags_done"):
            tag = re.fullmatch(r"\s*• #(\S+)", line)
            if tag:
                current["tags"].append(tag[1])
            elif line.strip():
                current["tags_done"] = True
    return operations


def _channels() -> dict[str, Any]:
    return asyncapi.document()["channels"]


def _operations_of_document() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, direction, channel[direction])
        for name, channel in _channels().items()
        for direction in DIRECTIONS
        if direction in channel
    ]


def _walk(node: Any, path: str = "#") -> list[tuple[str, Any]]:
    found = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _walk(value, f"{path}/{index}")
    return found


def test_the_seed_page_lists_the_operations_it_is_parsed_for():
    operations = _seed_operations()

    assert len(operations) == 88
    assert operations[0] == {
        "kind": "PUB",
        "channel": "bot.get-vars",
        "id": "bot.get-vars.request",
        "tags": ["bot"],
        "tags_done": True,
    }
    assert all(operation["id"] for operation in operations)


def test_every_seed_operation_id_is_an_operation_id_of_the_document():
    document_ids = {operation["operationId"] for _, _, operation in _operations_of_document()}

    missing = [op["id"] for op in _seed_operations() if op["id"] not in document_ids]

    assert missing == []


def test_each_seed_channel_keeps_its_operation_ids_and_tags():
    by_seed_channel = {
        channel["x-seed-channel"]: channel for channel in _channels().values() if "x-seed-channel" in channel
    }

    for seed in _seed_operations():
        direction = "publish" if seed["kind"] == "PUB" else "subscribe"
        operation = by_seed_channel[seed["channel"]][direction]
        assert operation["operationId"] == seed["id"]
        assert [tag["name"] for tag in operation["tags"]] == seed["tags"], seed["id"]


def test_every_seed_channel_is_the_seed_channel_of_one_operation():
    seed_channels = {op["channel"] for op in _seed_operations()}
    named = [channel["x-seed-channel"] for channel in _channels().values() if "x-seed-channel" in channel]

    assert sorted(named) == sorted(seed_channels)
    assert [name for name, channel in _channels().items() if "x-seed-channel" not in channel] == [
        "subscribe",
        "events",
        "error",
    ]


def test_operations_without_a_seed_answer_get_invented_ids():
    channels = _channels()

    assert channels["meetings.schedule"]["subscribe"]["operationId"] == "meetings.schedule.response"
    assert channels["meetings.decline"]["subscribe"]["operationId"] == "meetings.decline.response"
    assert channels["subscribe"]["publish"]["operationId"] == "subscribe.request"
    assert channels["subscribe"]["subscribe"]["operationId"] == "subscribe.response"


def test_operation_ids_are_unique():
    ids = [operation["operationId"] for _, _, operation in _operations_of_document()]

    assert len(ids) == len(set(ids))


def test_every_operation_has_a_channel_with_publish_and_subscribe():
    channels = _channels()

    assert set(channels) == set(OPERATIONS) | {"events", "error"}
    for name in OPERATIONS:
        assert set(DIRECTIONS) <= set(channels[name]), name
        for direction in DIRECTIONS:
            assert channels[name][direction]["summary"], name
            assert channels[name][direction]["tags"], name


def test_each_channel_says_its_form_and_command_frames_are_the_contracts():
    channels = _channels()

    assert {name: channels[name]["x-form"] for name in OPERATIONS} == {
        name: op.form for name, op in OPERATIONS.items()
    }
    assert {name: ch["x-frame"] for name, ch in channels.items() if "x-frame" in ch} == COMMAND_FRAMES


def test_request_payload_is_absent_exactly_for_operations_that_take_none():
    without_payload = {name for name in OPERATIONS if asyncapi.request_schema(name) is None}

    assert without_payload == {name for name, op in OPERATIONS.items() if not op.takes_payload}
    assert without_payload == {
        "who",
        "bot.get-vars",
        "chatusers.get-bot-segments",
        "chatusers.get-bot-tags",
        "automated-messages.get",
        "intel.leadlist",
    }


def test_the_seed_tags_and_the_extra_operation_tags_are_declared():
    declared = [tag["name"] for tag in asyncapi.document()["tags"]]
    used = {tag["name"] for _, _, operation in _operations_of_document() for tag in operation.get("tags", [])}

    assert set(declared) == SEED_TOP_TAGS | EXTRA_OPERATION_TAGS
    assert len(declared) == len(set(declared))
    assert used <= set(declared)


def test_the_document_has_the_asyncapi_structure():
    document = asyncapi.document()

    assert document["asyncapi"] == "2.6.0"
    assert document["info"]["title"] == "Userbot"
    assert document["info"]["version"]
    assert document["servers"]["production"] == {
        "url": "ai.userbot.ai",
        "protocol": "wss",
        "description": document["servers"]["production"]["description"],
    }
    assert (document["servers"]["sandbox"]["url"], document["servers"]["sandbox"]["protocol"]) == (
        "127.0.0.1:8765",
        "ws",
    )
    assert set(document) <= {
        "asyncapi",
        "id",
        "info",
        "servers",
        "defaultContentType",
        "channels",
        "components",
        "tags",
        "externalDocs",
    }
    for name, channel in document["channels"].items():
        assert {key for key in channel if not key.startswith("x-")} <= CHANNEL_KEYS, name
        for direction in DIRECTIONS:
            if direction in channel:
                assert set(channel[direction]) <= OPERATION_KEYS, name
    for name, message in document["components"]["messages"].items():
        assert {key for key in message if not key.startswith("x-")} <= MESSAGE_KEYS, name
        for example in message["examples"]:
            assert set(example) <= EXAMPLE_KEYS, name


def test_every_reference_resolves():
    refs = [
        node["$ref"] for _, node in _walk(asyncapi.document()) if isinstance(node, dict) and "$ref" in node
    ]

    assert len(refs) > 200
    for ref in refs:
        assert asyncapi.resolve(ref) is not None, ref


def test_every_component_schema_is_a_valid_draft_7_schema():
    for name in asyncapi.document()["components"]["schemas"]:
        resolved = asyncapi.dereference({"$ref": f"#/components/schemas/{name}"})
        jsonschema.Draft7Validator.check_schema(resolved)


def test_the_objects_of_the_contract_have_schemas():
    assert set(asyncapi.document()["components"]["schemas"]) >= SECTION_4_OBJECTS


def test_every_message_has_an_example_that_validates_against_its_schema():
    messages = asyncapi.document()["components"]["messages"]

    for name in messages:
        examples = messages[name]["examples"]
        assert examples, name
        validator = jsonschema.Draft7Validator(asyncapi.message_schema(name))
        for example in examples:
            assert list(validator.iter_errors(example["payload"])) == [], (name, example["name"])


def test_channel_examples_pass_the_validators_the_server_and_client_use():
    checked = 0
    for name, direction, operation in _operations_of_document():
        message = asyncapi.resolve(operation["message"]["$ref"]) if "$ref" in operation["message"] else None
        if message is None:
            continue
        for example in message["examples"]:
            if name == "error":
                continue
            validate = schema.validate_request if direction == "publish" else schema.validate_response
            validate(name, example["payload"])
            checked += 1

    assert checked >= 2 * len(OPERATIONS)


def test_the_events_channel_carries_the_three_events():
    options = _channels()["events"]["subscribe"]["message"]["oneOf"]
    names = [asyncapi.resolve(option["$ref"])["name"] for option in options]

    assert set(_channels()["events"]) == {"description", "subscribe"}
    assert tuple(names) == EVENTS
    for event, option in zip(names, options, strict=True):
        for example in asyncapi.resolve(option["$ref"])["examples"]:
            schema.validate_event(event, example["payload"])


def test_the_error_channel_answers_unknown_channel_with_the_error_response():
    message = asyncapi.resolve(_channels()["error"]["subscribe"]["message"]["$ref"])
    first = message["examples"][0]["payload"]

    assert set(_channels()["error"]) == {"description", "subscribe"}
    assert (first["channel"], first["status"], first["error"]["code"]) == ("error", 400, "unknown_channel")
    assert asyncapi.message_schema("UnknownChannelError")["properties"]["error"]["properties"]["code"][
        "enum"
    ] == [
        "invalid",
        "unknown_channel",
        "unauthenticated",
        "forbidden",
        "not_found",
        "too_large",
        "rate_limited",
        "server_error",
    ]


def test_the_language_enum_is_iso_639_1_and_the_empty_string():
    enum = asyncapi.document()["components"]["schemas"]["Language"]["enum"]

    assert len(enum) == len(set(enum))
    assert set(enum) == LANGUAGES | {""}
    assert all(isinstance(code, str) for code in enum)


def _sandbox_answers(frames: list[str]) -> list[dict[str, Any]]:
    """The sandbox's answers to ``frames``, sent after logging in and choosing the test bot."""
    with start_sandbox() as sandbox, connect(sandbox.url) as socket:
        answers = []
        for frame in ["apiLogin test-key", "sitekey undefined test-bot", *frames]:
            socket.send(frame)
            answers.append(json.loads(socket.recv(timeout=10)))
    return answers[2:]


def _description() -> str:
    """The document's overview with its line breaks and indents read as single spaces."""
    return " ".join(asyncapi.document()["info"]["description"].split())


def test_integers_written_with_a_fraction_are_refused_as_the_document_says():
    frames = [
        'chatusers.get {"offset": 0, "limit": 1.0}',
        'chatusers.get {"offset": 0.0, "limit": 1}',
        'chatusers.get-feedback {"offset": 0, "limit": 20.0}',
        'qeafilter.search.page-db-ai {"offset": 0, "limit": 5.0}',
        'automated-messages.save {"name": "Hi", "trigger": "page_visit", "delay_seconds": 3.0}',
        "robin sv 000000000000000000000001 get sessions 10.0 0",
    ]

    answers = _sandbox_answers(frames)

    fraction = "must be an integer, written without a fraction"
    assert "**Integers are written without a fraction**" in _description()
    assert f'{{"limit": "{fraction}"}}' in _description()
    assert [(a["status"], a["error"]["code"], a["error"]["fields"]) for a in answers] == [
        (400, "invalid", {"limit": fraction}),
        (400, "invalid", {"offset": fraction}),
        (400, "invalid", {"limit": fraction}),
        (400, "invalid", {"limit": fraction}),
        (400, "invalid", {"delay_seconds": fraction}),
        # The command form keeps "10.0" as text, which is no integer at all.
        (400, "invalid", {"limit": "must be an integer"}),
    ]


def test_the_sandbox_fault_settings_are_the_documented_ones():
    assert RETRY_AFTER_S == 0.05
    assert UNCOUNTED == {"apiLogin", "sitekey"}
    assert "`retry_after` 0.05 (seconds)" in _description()
    assert "except `apiLogin` and `sitekey`" in _description()
    assert "When both fall on one request the 429 wins" in _description()


def test_stored_filters_and_conditions_always_carry_a_value():
    schemas = asyncapi.document()["components"]["schemas"]

    assert schemas["SegmentFilter"]["required"] == ["field", "op", "value"]
    assert schemas["AutomatedMessageCondition"]["required"] == ["field", "op", "value"]
    assert schemas["SegmentFilterInput"]["required"] == ["field", "op"]
    assert schemas["AutomatedMessageConditionInput"]["required"] == ["field", "op"]


def test_a_label_with_angle_brackets_is_refused_by_the_schema_and_the_sandbox():
    good = {"question": "How?", "answer": "Like this."}
    with pytest.raises(PayloadInvalid) as refused:
        schema.validate_request("qeafilter.save", {"label": "a<b", **good})
    with pytest.raises(PayloadInvalid) as refused_token:
        schema.validate_request("qeafilter.save.token", {"id": "1", "token": "<a<b>"})

    answers = _sandbox_answers(["qeafilter.save " + json.dumps({"label": "a>b", **good})])

    assert list(refused.value.fields) == ["label"]
    assert list(refused_token.value.fields) == ["token"]
    assert (answers[0]["status"], list(answers[0]["error"]["fields"])) == (400, ["label"])


def test_nps_is_a_whole_number_and_the_sandbox_answers_it_so():
    nps = asyncapi.response_schema("rawstats.count-nps")["properties"]["nps"]

    answers = _sandbox_answers(['rawstats.count-nps {"from": "2026-01-01", "to": "2026-01-31"}'])

    assert (nps["type"], nps["minimum"], nps["maximum"]) == ("integer", -100, 100)
    assert answers[0] == {
        "channel": "rawstats.count-nps",
        "status": 200,
        "payload": {"positive": 0, "neutral": 0, "negative": 0, "total": 0, "nps": 0},
    }
    schema.validate_response("rawstats.count-nps", answers[0]["payload"])


def test_the_server_keys_of_nested_faults_are_the_documented_ones():
    frames = [
        'chatusers.create-segment {"name": "s", "match": "all", '
        '"filters": [{"field": "created_at", "op": "gt", "value": "soon"}]}',
        'automated-messages.save {"name": "a", "trigger": "page_visit", '
        '"conditions": [{"field": "url", "op": "eq"}]}',
        'chatusers.add-tag {"chatuser_ids": [], "tag": {"name": "   "}}',
    ]

    answers = _sandbox_answers(frames)
    keys = [list(answer["error"]["fields"]) for answer in answers]

    assert keys == [["filters.0"], ["conditions[0].value"], ["tag.name"]]
    for key in ("`filters.<index>`", "`conditions[<index>].<property>`", "`tag.name`"):
        assert key in _description()
