"""Live chat services against the sandbox: reading the inbox and a chat, taking over,
replying once, handing back, and a reply whose answer is lost."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from backoffice.accounts.services import operator_key_set
from backoffice.userbot.models import Bot
from livechat import services
from livechat.agents import agent_for
from livechat.models import ChatAction
from livechat.selectors import read_inbox, read_transcript
from livechat.services import ChatRefused, HeldByAnother
from livechat.wire import TEXT_MAX, chat_event
from sandbox.runner import start_sandbox
from tests.conftest import APIKEY, SITEKEY
from tests.factories import ChatUserFactory
from tests.hostile import LosesTheAnswerToSay

pytestmark = pytest.mark.django_db
STAMP = "2026-11-24T09:30:00.000Z"


def _agent(name: str) -> Any:
    user = get_user_model().objects.create_user(name, password="x", is_staff=True, first_name=name.title())
    user.groups.add(Group.objects.get(name="chat agent"))
    return user


@pytest.fixture
def ann() -> Any:
    return _agent("ann")


@pytest.fixture
def bob() -> Any:
    return _agent("bob")


def _agent_messages(sandbox: Any, session_id: str) -> list[dict[str, Any]]:
    state = sandbox.store.bots[SITEKEY]
    return [m for m in state.messages[session_id] if m["from"] == "agent"]


def test_the_inbox_lists_open_chats_first_newest_activity_first_named_as_here(sandbox, bot, ann):
    first = sandbox.open_chat(SITEKEY)
    second = sandbox.open_chat(SITEKEY)
    closed = sandbox.open_chat(SITEKEY)
    sandbox.close_chat(SITEKEY, closed["id"])
    sandbox.visitor_says(SITEKEY, first["id"], "Hello, anyone there?")
    person = ChatUserFactory(bot=bot, remote_id=first["chatuser_id"], name="Ada", surname="Lovelace")

    with agent_for(bot, ann) as agent:
        inbox = read_inbox(bot=bot, agent=agent)

    assert [c["id"] for c in inbox.chats] == [first["id"], second["id"], closed["id"]]
    assert inbox.chats[0]["chatuser_name"] == "Ada Lovelace"
    assert inbox.chats[0]["chatuser_url"] == f"/admin/chatusers/chatuser/{person.pk}/change/"
    assert inbox.chats[0]["last_text"] == "Hello, anyone there?"
    assert inbox.chats[0]["holder"] == "the bot"
    assert "last_text" not in inbox.chats[2]  # a closed chat's transcript is not read
    assert inbox.dropped == []


def test_a_chat_waiting_for_an_agent_says_so(sandbox, bot, ann):
    chat = sandbox.open_chat(SITEKEY)
    sandbox.ask_for_human(SITEKEY, chat["id"])

    with agent_for(bot, ann) as agent:
        (row,) = read_inbox(bot=bot, agent=agent).chats

    assert (row["status"], row["agent_id"], row["holder"]) == ("agent", None, "nobody yet")


def test_taking_over_assigns_the_chat_and_writes_the_chat_users_history(sandbox, bot, ann):
    chat = sandbox.open_chat(SITEKEY)
    person = ChatUserFactory(bot=bot, remote_id=chat["chatuser_id"])

    action = services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)

    session = sandbox.store.bots[SITEKEY].sessions[chat["id"]]
    assert (action.kind, action.state, action.error) == ("take_over", "done", "")
    assert session["status"] == "agent"
    assert session["agent_id"] == action.agent_id != ""
    entry = LogEntry.objects.get(object_id=str(person.pk))
    assert (entry.user_id, entry.change_message) == (ann.pk, f"Took over in chat {chat['id']}")
    with agent_for(bot, ann) as agent:
        seen = read_transcript(bot=bot, agent=agent, session_id=chat["id"]).chat
    assert (seen["holder"], seen["holder_operator_id"], seen["held_by_my_agent"]) == ("Ann", ann.pk, True)


def test_a_reply_needs_the_chat_held_by_the_operator_and_sends_nothing_otherwise(sandbox, bot, ann):
    chat = sandbox.open_chat(SITEKEY)

    with pytest.raises(ChatRefused, match="Take the chat over before replying"):
        services.chat_reply(bot=bot, session_id=chat["id"], text="Hi", operator=ann)

    assert _agent_messages(sandbox, chat["id"]) == []
    assert not ChatAction.objects.filter(kind="reply").exists()


def test_a_reply_reaches_userbot_once_and_is_kept_as_sent(sandbox, bot, ann):
    chat = sandbox.open_chat(SITEKEY)
    services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)

    action = services.chat_reply(bot=bot, session_id=chat["id"], text="  How can I help?  ", operator=ann)

    (said,) = _agent_messages(sandbox, chat["id"])
    assert said["text"] == "How can I help?"
    assert (action.state, action.text, action.message_id) == ("done", "How can I help?", said["id"])


def test_taking_over_a_chat_another_operator_holds_asks_first_and_names_them(sandbox, bot, ann, bob):
    chat = sandbox.open_chat(SITEKEY)
    services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)

    with pytest.raises(HeldByAnother) as refused:
        services.chat_take_over(bot=bot, session_id=chat["id"], operator=bob)
    assert refused.value.holder == "Ann"
    with pytest.raises(ChatRefused):
        services.chat_reply(bot=bot, session_id=chat["id"], text="Me too", operator=bob)

    services.chat_take_over(bot=bot, session_id=chat["id"], operator=bob, confirmed=True)
    with agent_for(bot, ann) as agent:
        seen = read_transcript(bot=bot, agent=agent, session_id=chat["id"]).chat
    assert seen["holder"] == "Bob"
    with pytest.raises(ChatRefused):
        services.chat_reply(bot=bot, session_id=chat["id"], text="Still me", operator=ann)
    assert _agent_messages(sandbox, chat["id"]) == []


def test_handing_back_gives_the_chat_to_the_bot(sandbox, bot, ann):
    chat = sandbox.open_chat(SITEKEY)
    services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)

    services.chat_hand_back(bot=bot, session_id=chat["id"], operator=ann)

    session = sandbox.store.bots[SITEKEY].sessions[chat["id"]]
    assert (session["status"], session["agent_id"]) == ("bot", None)
    assert list(ChatAction.objects.values_list("kind", "state")) == [
        ("hand_back", "done"),
        ("take_over", "done"),
    ]


def test_a_reply_to_a_closed_chat_is_refused_in_words(sandbox, bot, ann):
    chat = sandbox.open_chat(SITEKEY)
    services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)
    sandbox.close_chat(SITEKEY, chat["id"])

    with pytest.raises(ChatRefused, match="This chat is closed"):
        services.chat_reply(bot=bot, session_id=chat["id"], text="Hello?", operator=ann)

    assert _agent_messages(sandbox, chat["id"]) == []


def test_a_reply_whose_answer_is_lost_is_unknown_never_sent_again_and_settled_by_a_person(ann):
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), server_class=LosesTheAnswerToSay) as sandbox:
        bot = Bot(name="Lossy", sitekey=SITEKEY, server_url=sandbox.url)
        bot.set_apikey(APIKEY)
        bot.save()
        chat = sandbox.open_chat(SITEKEY)
        services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)

        action = services.chat_reply(bot=bot, session_id=chat["id"], text="Are you there?", operator=ann)

        assert (action.state, action.error) == ("unknown", "The connection dropped before Userbot answered.")
        assert [m["text"] for m in _agent_messages(sandbox, chat["id"])] == ["Are you there?"]
        settled = services.chat_reply_settle(action=action, operator=ann, said=True)
        assert settled.state == "settled"
        assert settled.error.endswith("ann checked the transcript: it was sent.")
        assert [m["text"] for m in _agent_messages(sandbox, chat["id"])] == ["Are you there?"]
        with pytest.raises(ChatRefused):
            services.chat_reply_settle(action=action, operator=ann, said=False)


def test_a_message_of_100_kb_is_cut_for_the_page_and_says_how_much():
    event = chat_event(
        "chat.message",
        {"session_id": "s1", "message": {"id": "m1", "from": "user", "text": "x" * 100_000, "at": STAMP}},
    )

    assert event is not None
    assert (len(event["message"]["text"]), event["message"]["cut"]) == (TEXT_MAX, 100_000 - TEXT_MAX)


@pytest.mark.parametrize(
    "payload",
    [
        {"session_id": "s1"},
        {"session_id": "s1", "message": {"id": "m1", "from": "hacker", "text": "hi", "at": STAMP}},
        {"session_id": 7, "message": {"id": "m1", "from": "user", "text": "hi", "at": STAMP}},
        "not an object",
    ],
    ids=["no message", "unknown sender", "session id not text", "not an object"],
)
def test_an_event_that_is_not_valid_becomes_dropped_news_with_its_reason_and_a_log_line(payload, caplog):
    event = chat_event("chat.message", payload)

    assert event is not None
    assert (event["type"], event["event"]) == ("dropped", "chat.message")
    assert event["reason"] != ""
    assert [r.getMessage().startswith("A chat.message event was not valid") for r in caplog.records] == [True]


def test_events_of_other_topics_are_not_for_live_chat():
    assert chat_event("chatusers.changed", {"op": "created", "id": "1", "updated_at": STAMP}) is None


def test_an_operator_with_their_own_key_takes_over_and_replies_as_their_own_userbot_user(ann):
    with start_sandbox(apikeys=(APIKEY, "ann-key"), sitekeys=(SITEKEY,)) as sandbox:
        bot = Bot(name="Shared", sitekey=SITEKEY, server_url=sandbox.url)
        bot.set_apikey(APIKEY)
        bot.save()
        operator_key_set(user=ann, apikey="ann-key")
        chat = sandbox.open_chat(SITEKEY)
        accounts = {apikey: account.user_id for apikey, account in sandbox.store.accounts.items()}

        taken = services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)
        said = services.chat_reply(bot=bot, session_id=chat["id"], text="Ann here", operator=ann)

        assert taken.agent_id == said.agent_id == accounts["ann-key"] != accounts[APIKEY]
        assert sandbox.store.bots[SITEKEY].sessions[chat["id"]]["agent_id"] == accounts["ann-key"]


def test_handing_back_a_chat_another_operator_holds_asks_first(sandbox, bot, ann, bob):
    chat = sandbox.open_chat(SITEKEY)
    services.chat_take_over(bot=bot, session_id=chat["id"], operator=ann)

    with pytest.raises(
        HeldByAnother, match=re.escape("Ann holds this chat. Hand it back to the bot anyway?")
    ):
        services.chat_hand_back(bot=bot, session_id=chat["id"], operator=bob)
    assert sandbox.store.bots[SITEKEY].sessions[chat["id"]]["status"] == "agent"

    services.chat_hand_back(bot=bot, session_id=chat["id"], operator=bob, confirmed=True)
    assert sandbox.store.bots[SITEKEY].sessions[chat["id"]]["status"] == "bot"
