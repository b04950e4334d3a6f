"""One attempt at an act that is not safe to repeat, and what became of it."""

from __future__ import annotations

from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.once import LOST, call_once
from sandbox.runner import start_sandbox
from tests.conftest import APIKEY, SITEKEY
from tests.hostile import LosesTheAnswerToSay


def _client(url: str) -> UserbotClient:
    client = UserbotClient(url, APIKEY, SITEKEY, reconnect_attempts=1, timeout=5)
    client.connect()
    return client


def test_an_answered_act_is_done_with_its_checked_answer(sandbox):
    chat = sandbox.open_chat(SITEKEY)
    with _client(sandbox.url) as client:
        attempt = call_once(client, api.say(wspath=chat["wspath"], session_id=chat["id"], message="Hi"))

    (said,) = [m for m in sandbox.store.bots[SITEKEY].messages[chat["id"]] if m["from"] == "agent"]
    assert (attempt.done, attempt.refused, attempt.lost, attempt.valid, attempt.problem) == (
        True,
        False,
        False,
        True,
        "",
    )
    assert attempt.answer == {"message": said}


def test_a_refusal_changed_nothing_and_says_why_field_by_field(sandbox):
    chat = sandbox.open_chat(SITEKEY)
    with _client(sandbox.url) as client:
        attempt = call_once(client, api.say(wspath="elsewhere", session_id=chat["id"], message="Hi"))

    assert (attempt.done, attempt.refused, attempt.lost, attempt.answer) == (False, True, False, None)
    assert attempt.problem == (
        "Userbot refused it: the wspath is not the session's (wspath: not this session's wspath)"
    )
    assert sandbox.store.bots[SITEKEY].messages[chat["id"]] == []


def test_an_act_whose_answer_is_lost_is_lost_and_was_sent_once():
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), server_class=LosesTheAnswerToSay) as sandbox:
        chat = sandbox.open_chat(SITEKEY)
        with _client(sandbox.url) as client:
            attempt = call_once(client, api.say(wspath=chat["wspath"], session_id=chat["id"], message="Hi"))

        assert (attempt.done, attempt.refused, attempt.lost, attempt.problem) == (False, False, True, LOST)
        assert [m["text"] for m in sandbox.store.bots[SITEKEY].messages[chat["id"]]] == ["Hi"]


def test_an_act_with_no_connection_was_not_sent():
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,)) as sandbox:
        url = sandbox.url
    client = UserbotClient(url, APIKEY, SITEKEY, reconnect_attempts=1, connect_timeout=1)

    attempt = call_once(client, api.bot_get_vars())

    assert (attempt.done, attempt.refused, attempt.lost) == (False, False, False)
    assert attempt.problem.startswith("Not sent: there is no connection to Userbot (")
