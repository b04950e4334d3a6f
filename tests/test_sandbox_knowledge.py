"""The sandbox's knowledge base (qeafilter) and automated messages."""

from __future__ import annotations

import copy

import pytest

from sandbox import knowledge
from sandbox.registry import Context, SandboxError
from sandbox.store import SandboxStore

NOW = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z
NOW_ISO = "2026-11-24T09:30:00.000Z"
LATER = NOW + 60_000
LATER_ISO = "2026-11-24T09:31:00.000Z"


def _context(now_ms: int = NOW) -> Context:
    store = SandboxStore()
    account = store.add_account("key")
    bot = store.add_bot("shop")
    return Context(store=store, account=account, bot=bot, now_ms=now_ms)


def _again(ctx: Context, now_ms: int = NOW) -> Context:
    """A later request on the same store and bot."""
    return Context(store=ctx.store, account=ctx.account, bot=ctx.bot, now_ms=now_ms)


def _error(call, ctx: Context, payload: object) -> SandboxError:
    bot = ctx.bot
    before = (
        copy.deepcopy(bot.interactions),
        copy.deepcopy(bot.automated_messages),
        ctx.store.next_id,
        bot.last_stamp_ms,
    )
    with pytest.raises(SandboxError) as caught:
        call(ctx, payload)
    after = (bot.interactions, bot.automated_messages, ctx.store.next_id, bot.last_stamp_ms)
    assert after == before
    return caught.value


def _faq(ctx: Context) -> list[dict]:
    return [
        knowledge.qeafilter_save(ctx, {"label": "shipping", "question": "How long?", "answer": "Two days."}),
        knowledge.qeafilter_save(
            ctx, {"label": "returns", "question": "Can I return it?", "answer": "30 days."}
        ),
        knowledge.qeafilter_save(
            ctx, {"label": "Shipping", "question": "Do you ship to Rome?", "answer": "Yes", "language": "it"}
        ),
    ]


# --- qeafilter ----------------------------------------------------------------------------


def test_save_creates_an_interaction_with_defaults_and_one_time():
    ctx = _context()

    created = knowledge.qeafilter_save(
        ctx, {"label": "shipping", "question": "How long?", "answer": "Two days."}
    )

    assert created == {
        "id": "000000000000000000000002",
        "client_ref": None,
        "label": "shipping",
        "question": "How long?",
        "answer": "Two days.",
        "language": "",
        "enabled": True,
        "updated_at": NOW_ISO,
    }
    assert ctx.bot.interactions == {created["id"]: created}


def test_save_takes_language_enabled_and_client_ref():
    ctx = _context()

    created = knowledge.qeafilter_save(
        ctx,
        {
            "label": "orari",
            "question": "Quando?",
            "answer": "9-19",
            "language": "it",
            "enabled": False,
            "client_ref": "kb-1",
        },
    )

    assert (created["language"], created["enabled"], created["client_ref"]) == ("it", False, "kb-1")


def test_save_with_a_known_client_ref_returns_that_interaction_unchanged():
    ctx = _context()
    first = knowledge.qeafilter_save(
        ctx, {"label": "a", "question": "q", "answer": "x", "client_ref": "kb-1"}
    )
    kept = copy.deepcopy(first)

    again = knowledge.qeafilter_save(
        _again(ctx, LATER), {"label": "b", "question": "other", "answer": "y", "client_ref": "kb-1"}
    )

    assert again == kept
    assert list(ctx.bot.interactions) == [first["id"]]
    assert ctx.store.next_id == 3
    assert ctx.bot.last_stamp_ms == NOW


def test_save_names_every_bad_field_and_creates_nothing():
    ctx = _context()
    knowledge.qeafilter_save(ctx, {"label": "a", "question": "q", "answer": "x", "client_ref": "kb-1"})

    error = _error(
        knowledge.qeafilter_save,
        ctx,
        {
            "id": "1",
            "label": "<a>",
            "question": "",
            "language": "xx",
            "enabled": "yes",
            "client_ref": "r" * 65,
        },
    )
    repeated_but_bad = _error(
        knowledge.qeafilter_save, ctx, {"label": "a", "question": "q", "client_ref": "kb-1"}
    )

    assert (error.status, error.code) == (400, "invalid")
    assert set(error.fields) == {"id", "label", "question", "answer", "language", "enabled", "client_ref"}
    assert repeated_but_bad.fields == {"answer": "required, a non-empty string"}
    assert _error(knowledge.qeafilter_save, ctx, ["not", "an", "object"]).fields == {
        "payload": "must be an object"
    }


def test_search_pages_and_filters_by_query_and_label():
    ctx = _context()
    shipping, returns, rome = _faq(ctx)

    everything = knowledge.qeafilter_search(ctx, {"offset": 0, "limit": 50})
    page = knowledge.qeafilter_search(ctx, {"offset": 1, "limit": 1})
    by_query = knowledge.qeafilter_search(ctx, {"offset": 0, "limit": 50, "query": "SHIP"})
    by_answer = knowledge.qeafilter_search(ctx, {"offset": 0, "limit": 50, "query": "30 DAYS"})
    by_label = knowledge.qeafilter_search(ctx, {"offset": 0, "limit": 50, "label": "shipping"})
    both = knowledge.qeafilter_search(ctx, {"offset": 0, "limit": 50, "label": "Shipping", "query": "rome"})

    assert everything == {"total": 3, "interactions": [shipping, returns, rome]}
    assert page == {"total": 3, "interactions": [returns]}
    assert by_query == {"total": 2, "interactions": [shipping, rome]}
    assert by_answer == {"total": 1, "interactions": [returns]}
    assert by_label == {"total": 1, "interactions": [shipping]}
    assert both == {"total": 1, "interactions": [rome]}


def test_search_checks_its_page_and_filters():
    ctx = _context()

    error = _error(knowledge.qeafilter_search, ctx, {"offset": -1, "limit": 1001, "query": 3, "label": []})

    assert error.fields == {
        "limit": "must be an integer 1..1000",
        "offset": "must be an integer >= 0",
        "query": "must be a string",
        "label": "must be a string",
    }


def test_save_token_sets_the_label_from_the_token_and_the_fields_given():
    ctx = _context()
    shipping = _faq(ctx)[0]

    updated = knowledge.qeafilter_save_token(
        _again(ctx, LATER),
        {"id": shipping["id"], "token": "<delivery>", "answer": "Three days.", "enabled": False},
    )

    assert updated == {
        **shipping,
        "label": "delivery",
        "answer": "Three days.",
        "enabled": False,
        "updated_at": LATER_ISO,
    }
    assert ctx.bot.interactions[shipping["id"]] == updated


def test_save_token_that_changes_nothing_keeps_updated_at():
    ctx = _context()
    shipping = _faq(ctx)[0]

    same = knowledge.qeafilter_save_token(
        _again(ctx, LATER), {"id": shipping["id"], "token": "<shipping>", "question": "How long?"}
    )

    assert same["updated_at"] == NOW_ISO
    assert ctx.bot.last_stamp_ms == NOW


def test_save_token_in_the_same_millisecond_moves_updated_at_by_one():
    ctx = _context()
    shipping = _faq(ctx)[0]

    updated = knowledge.qeafilter_save_token(_again(ctx), {"id": shipping["id"], "token": "<late>"})

    assert updated["updated_at"] == "2026-11-24T09:30:00.001Z"


def test_save_token_refuses_a_token_not_in_angle_brackets_and_an_unknown_id():
    ctx = _context()
    shipping = _faq(ctx)[0]

    for token in ("shipping", "<>", "<a<b>", "<x", 5):
        error = _error(knowledge.qeafilter_save_token, ctx, {"id": shipping["id"], "token": token})
        assert (error.status, list(error.fields)) == (400, ["token"])
    unknown = _error(knowledge.qeafilter_save_token, ctx, {"id": "nope", "token": "<a>"})
    bad_and_unknown = _error(knowledge.qeafilter_save_token, ctx, {"id": "nope", "token": "a", "answer": ""})

    assert (unknown.status, unknown.code) == (404, "not_found")
    assert (bad_and_unknown.status, set(bad_and_unknown.fields)) == (400, {"token", "answer"})


def test_delete_answers_the_id_and_frees_the_client_ref():
    ctx = _context()
    first = knowledge.qeafilter_save(
        ctx, {"label": "a", "question": "q", "answer": "x", "client_ref": "kb-1"}
    )

    answer = knowledge.qeafilter_delete(ctx, {"id": first["id"]})
    second = knowledge.qeafilter_save(
        ctx, {"label": "b", "question": "q", "answer": "y", "client_ref": "kb-1"}
    )

    assert answer == {"deleted": True, "id": first["id"]}
    assert second["id"] != first["id"]
    assert list(ctx.bot.interactions) == [second["id"]]


def test_delete_of_an_unknown_interaction_is_404():
    ctx = _context()

    error = _error(knowledge.qeafilter_delete, ctx, {"id": "nope"})

    assert (error.status, error.code) == (404, "not_found")
    assert _error(knowledge.qeafilter_delete, ctx, {}).fields == {"id": "required, a non-empty string"}


# --- automated messages -------------------------------------------------------------------


FULL = {
    "name": "Cart reminder",
    "trigger": "exit_intent",
    "enabled": False,
    "delay_seconds": 10,
    "conditions": [
        {"field": "url", "op": "contains", "value": "/cart"},
        {"field": "variable", "op": "exists", "name": "plan"},
        {"field": "language", "op": "eq", "value": "en", "extra": "dropped"},
    ],
    "answers": [
        {"type": "text", "text": "Leaving already?"},
        {"type": "buttons", "text": "Finish the order?", "buttons": [{"label": "Yes", "value": "yes"}]},
        {"type": "image", "url": "https://example.com/cart.png"},
    ],
    "client_ref": "am-1",
}


def test_automated_message_save_without_id_creates_with_defaults():
    ctx = _context()

    created = knowledge.automated_messages_save(ctx, {"name": "Hello", "trigger": "page_visit"})

    assert created == {
        "id": "000000000000000000000002",
        "client_ref": None,
        "name": "Hello",
        "enabled": True,
        "trigger": "page_visit",
        "delay_seconds": 0,
        "conditions": [],
        "answers": [],
        "updated_at": NOW_ISO,
    }
    assert knowledge.automated_messages_get(ctx, None) == {"automated_messages": [created]}


def test_automated_message_save_stores_conditions_and_answers_in_the_contracts_shape():
    ctx = _context()

    created = knowledge.automated_messages_save(ctx, FULL)

    assert created["conditions"] == [
        {"field": "url", "op": "contains", "value": "/cart"},
        {"field": "variable", "op": "exists", "value": "", "name": "plan"},
        {"field": "language", "op": "eq", "value": "en"},
    ]
    assert created["answers"] == FULL["answers"]
    assert (created["enabled"], created["delay_seconds"], created["client_ref"]) == (False, 10, "am-1")


def test_automated_message_with_a_known_client_ref_is_returned_unchanged():
    ctx = _context()
    first = knowledge.automated_messages_save(ctx, FULL)
    kept = copy.deepcopy(first)

    again = knowledge.automated_messages_save(_again(ctx, LATER), {**FULL, "name": "Other", "answers": []})

    assert again == kept
    assert list(ctx.bot.automated_messages) == [first["id"]]


def test_automated_message_save_with_id_updates_only_the_fields_given():
    ctx = _context()
    first = knowledge.automated_messages_save(ctx, FULL)

    updated = knowledge.automated_messages_save(
        _again(ctx, LATER), {"id": first["id"], "enabled": True, "client_ref": "am-1"}
    )

    assert updated == {**first, "enabled": True, "updated_at": LATER_ISO}


def test_automated_message_update_that_changes_nothing_keeps_updated_at():
    ctx = _context()
    first = knowledge.automated_messages_save(ctx, FULL)

    same = knowledge.automated_messages_save(
        _again(ctx, LATER), {"id": first["id"], "name": "Cart reminder", "conditions": FULL["conditions"]}
    )

    assert same["updated_at"] == NOW_ISO
    assert ctx.bot.last_stamp_ms == NOW


def test_automated_message_update_of_an_unknown_id_is_404_and_client_ref_cannot_change():
    ctx = _context()
    first = knowledge.automated_messages_save(ctx, FULL)

    unknown = _error(knowledge.automated_messages_save, ctx, {"id": "nope", "name": "x"})
    new_ref = _error(knowledge.automated_messages_save, ctx, {"id": first["id"], "client_ref": "am-2"})

    assert (unknown.status, unknown.code) == (404, "not_found")
    assert (new_ref.status, new_ref.fields) == (400, {"client_ref": "cannot be changed"})


def test_automated_message_create_needs_name_and_a_known_trigger():
    ctx = _context()

    missing = _error(knowledge.automated_messages_save, ctx, {"enabled": True})
    wrong = _error(
        knowledge.automated_messages_save,
        ctx,
        {
            "name": "",
            "trigger": "on_click",
            "delay_seconds": -1,
            "enabled": "no",
        },
    )

    assert missing.fields == {"name": "required", "trigger": "required"}
    assert set(wrong.fields) == {"name", "trigger", "delay_seconds", "enabled"}


def test_automated_message_answers_are_checked_by_type():
    ctx = _context()
    answers = [
        {"type": "text"},
        {"type": "buttons", "text": "Pick", "buttons": []},
        {"type": "buttons", "buttons": [{"label": "A", "value": "a"}]},
        {"type": "buttons", "text": "Pick", "buttons": [{"label": "A"}]},
        {"type": "image"},
        {"type": "video", "url": "x"},
    ]

    error = _error(
        knowledge.automated_messages_save, ctx, {"name": "n", "trigger": "page_visit", "answers": answers}
    )

    assert error.fields == {
        "answers[0].text": "required with text",
        "answers[1].buttons": "a non-empty array of {label, value}",
        "answers[2].text": "required with buttons",
        "answers[3].buttons": "a non-empty array of {label, value}",
        "answers[4].url": "required with image",
        "answers[5].type": "one of text, buttons, image",
    }


def test_automated_message_conditions_are_checked():
    ctx = _context()
    conditions = [
        {"field": "email", "op": "eq", "value": "a"},
        {"field": "url", "op": "like", "value": "a"},
        {"field": "url", "op": "eq", "value": "a", "name": "x"},
        {"field": "variable", "op": "eq", "value": "a"},
        {"field": "channel", "op": "eq"},
        "not an object",
    ]

    error = _error(
        knowledge.automated_messages_save,
        ctx,
        {"name": "n", "trigger": "page_visit", "conditions": conditions},
    )

    assert error.fields == {
        "conditions[0].field": "one of url, language, channel, tag, variable",
        "conditions[1].op": "one of eq, neq, contains, exists, not_exists, gt, lt",
        "conditions[2].name": "only with variable",
        "conditions[3].name": "required with variable",
        "conditions[4].value": "required, a non-empty string",
        "conditions[5]": "must be an object",
    }


def test_a_tag_condition_must_name_a_tag():
    ctx = _context()
    ctx.bot.tags["t1"] = {"id": "t1", "name": "VIP", "color": "#d4af37"}

    unknown = _error(
        knowledge.automated_messages_save,
        ctx,
        {
            "name": "n",
            "trigger": "page_visit",
            "conditions": [{"field": "tag", "op": "eq", "value": "t9"}],
        },
    )
    known = knowledge.automated_messages_save(
        ctx,
        {
            "name": "n",
            "trigger": "page_visit",
            "conditions": [{"field": "tag", "op": "eq", "value": "t1"}],
        },
    )

    assert (unknown.status, unknown.code) == (404, "not_found")
    assert known["conditions"] == [{"field": "tag", "op": "eq", "value": "t1"}]


def test_automated_message_delete_frees_the_client_ref_and_404s_when_unknown():
    ctx = _context()
    first = knowledge.automated_messages_save(ctx, FULL)

    answer = knowledge.automated_messages_delete(ctx, {"id": first["id"]})
    unknown = _error(knowledge.automated_messages_delete, ctx, {"id": first["id"]})
    recreated = knowledge.automated_messages_save(ctx, FULL)

    assert answer == {"deleted": True, "id": first["id"]}
    assert (unknown.status, unknown.code) == (404, "not_found")
    assert recreated["id"] != first["id"]
    assert knowledge.automated_messages_get(ctx, None) == {"automated_messages": [recreated]}


def test_knowledge_over_the_wire(raw_ws):
    created = raw_ws.ok("qeafilter.save", {"label": "refunds", "question": "Refund?", "answer": "5 days"})
    again = raw_ws.ok("qeafilter.save", {"label": "x", "question": "y", "answer": "z", "client_ref": "k"})
    found = raw_ws.ok("qeafilter.search.page-db-ai", {"offset": 0, "limit": 50, "query": "refund"})
    token = raw_ws.request("qeafilter.save.token", {"id": created["id"], "token": "refunds"})
    message = raw_ws.ok("automated-messages.save", {"name": "Hi", "trigger": "page_visit"})
    listed = raw_ws.ok("automated-messages.get")
    deleted = raw_ws.ok("qeafilter.delete", {"id": again["id"]})

    assert found == {"total": 1, "interactions": [created]}
    assert (token["channel"], token["status"], list(token["error"]["fields"])) == (
        "qeafilter.save.token",
        400,
        ["token"],
    )
    assert listed == {"automated_messages": [message]}
    assert deleted == {"deleted": True, "id": again["id"]}


def test_an_empty_or_blank_question_or_answer_is_refused_over_the_wire(raw_ws):
    created = raw_ws.ok("qeafilter.save", {"label": "refunds", "question": "Refund?", "answer": "5 days"})

    empty = raw_ws.request("qeafilter.save", {"label": "a", "question": "", "answer": ""})
    blank = raw_ws.request("qeafilter.save", {"label": "a", "question": "  ", "answer": "\t"})
    empty_update = raw_ws.request("qeafilter.save.token", {"id": created["id"], "token": "<a>", "answer": ""})
    blank_update = raw_ws.request(
        "qeafilter.save.token", {"id": created["id"], "token": "<a>", "question": " "}
    )

    assert [(r["status"], r["error"]["fields"]) for r in (empty, blank, empty_update, blank_update)] == [
        (400, {"question": "must not be empty", "answer": "must not be empty"}),
        (400, {"question": "required, a non-empty string", "answer": "required, a non-empty string"}),
        (400, {"answer": "must not be empty"}),
        (400, {"question": "a non-empty string"}),
    ]
    found = raw_ws.ok("qeafilter.search.page-db-ai", {"offset": 0, "limit": 50})
    assert found == {"total": 1, "interactions": [created]}
