"""The live chat pages and act endpoints, as operators of each role reach them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from livechat.models import ChatAction
from tests.conftest import SITEKEY
from tests.factories import ChatUserFactory

pytestmark = pytest.mark.django_db


def _login(client: Any, name: str, role: str | None) -> Any:
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def _page_data(response: Any) -> dict[str, Any]:
    return response.context["page_data"]


def test_the_inbox_page_carries_each_bots_chats_and_the_socket_to_watch(client, sandbox, bot):
    _login(client, "ann", "chat agent")
    chat = sandbox.open_chat(SITEKEY)
    sandbox.ask_for_human(SITEKEY, chat["id"])

    response = client.get("/admin/livechat/chataction/")

    assert response.status_code == 200
    data = _page_data(response)
    assert (data["kind"], data["socket"]) == ("inbox", "/ws/chats/")
    ((only_bot),) = data["bots"]
    assert (only_bot["name"], only_bot["error"]) == ("Test bot", "")
    assert [(c["id"], c["holder"]) for c in only_bot["chats"]] == [(chat["id"], "nobody yet")]
    assert b'id="livechat-data"' in response.content


def test_the_inbox_of_one_chat_user_lists_only_their_chats(client, sandbox, bot):
    _login(client, "ann", "viewer")
    theirs = sandbox.open_chat(SITEKEY)
    sandbox.open_chat(SITEKEY, chatuser_id=None)
    person = ChatUserFactory(bot=bot, remote_id=theirs["chatuser_id"])
    others = [
        c for c in sandbox.store.bots[SITEKEY].sessions.values() if c["chatuser_id"] != theirs["chatuser_id"]
    ]

    page = client.get(f"/admin/livechat/chataction/{bot.pk}/?chatuser={theirs['chatuser_id']}&status=all")
    answer = client.get(page.context["page_data"]["inbox_url"]).json()

    ids = [c["id"] for c in answer["bots"][0]["chats"]]
    assert theirs["id"] in ids
    assert not {c["id"] for c in others} & set(ids)
    change = client.get(f"/admin/chatusers/chatuser/{person.pk}/change/")
    assert f"?chatuser={theirs['chatuser_id']}&amp;status=all".encode() in change.content


def test_a_bot_that_cannot_be_reached_says_so_and_the_page_still_renders(client, bot):
    _login(client, "ann", "viewer")
    bot.server_url = "ws://127.0.0.1:9/"
    bot.save()

    response = client.get("/admin/livechat/chataction/")

    assert response.status_code == 200
    (entry,) = _page_data(response)["bots"]
    assert entry["chats"] == []
    assert entry["error"].startswith("Could not read the chats from Userbot: ")


def test_a_viewer_reads_a_chat_but_every_act_is_refused_and_nothing_is_sent(client, sandbox, bot):
    _login(client, "vera", "viewer")
    chat = sandbox.open_chat(SITEKEY)
    sandbox.visitor_says(SITEKEY, chat["id"], "Hello")
    base = f"/admin/livechat/chataction/{bot.pk}/{chat['id']}/"

    page = client.get(base)
    acts = [client.post(f"{base}{act}/", {"text": "hi"}) for act in ("take-over", "reply", "hand-back")]

    assert page.status_code == 200
    assert [m["text"] for m in _page_data(page)["messages"]] == ["Hello"]
    assert b'data-role="reply"' not in page.content
    assert [r.status_code for r in acts] == [403, 403, 403]
    assert sandbox.store.bots[SITEKEY].sessions[chat["id"]]["status"] == "bot"
    assert not ChatAction.objects.exists()


def test_an_agent_takes_over_and_replies_through_the_endpoints(client, sandbox, bot):
    _login(client, "ann", "chat agent")
    chat = sandbox.open_chat(SITEKEY)
    base = f"/admin/livechat/chataction/{bot.pk}/{chat['id']}/"

    before = client.post(f"{base}reply/", {"text": "too early"})
    taken = client.post(f"{base}take-over/")
    said = client.post(f"{base}reply/", {"text": "<b>Hello</b>"})
    data = client.get(f"{base}chat.json").json()

    assert (before.status_code, before.json()["error"]) == (
        400,
        "Take the chat over before replying: only the operator who holds it may answer.",
    )
    assert (taken.status_code, taken.json()["ok"]) == (200, True)
    assert (said.status_code, said.json()["action"]["state"]) == (200, "done")
    assert data["mine"] is True
    assert [m["text"] for m in data["messages"]] == ["<b>Hello</b>"]
    assert [a["kind"] for a in data["actions"]] == ["take_over", "reply"]


def test_a_reply_longer_than_the_box_allows_is_refused_before_userbot(client, sandbox, bot):
    _login(client, "ann", "chat agent")
    chat = sandbox.open_chat(SITEKEY)

    answer = client.post(f"/admin/livechat/chataction/{bot.pk}/{chat['id']}/reply/", {"text": "x" * 4001})

    assert (answer.status_code, answer.json()["error"]) == (400, "A reply holds at most 4000 characters.")
    assert not ChatAction.objects.exists()


def test_a_chat_deleted_while_open_says_it_no_longer_exists(client, sandbox, bot):
    _login(client, "ann", "chat agent")
    chat = sandbox.open_chat(SITEKEY)
    sandbox.delete_chat(SITEKEY, chat["id"])

    data = client.get(f"/admin/livechat/chataction/{bot.pk}/{chat['id']}/chat.json").json()
    act = client.post(f"/admin/livechat/chataction/{bot.pk}/{chat['id']}/take-over/")

    assert (data["chat"], data["error"], data["gone"]) == (
        None,
        "This chat no longer exists on Userbot.",
        True,
    )
    assert (act.status_code, act.json()["error"]) == (404, "This chat no longer exists on Userbot.")


def test_the_dashboard_counts_the_chats_waiting_for_an_agent(client, sandbox, bot):
    _login(client, "ann", "operator")
    for _ in range(2):
        sandbox.ask_for_human(SITEKEY, sandbox.open_chat(SITEKEY)["id"])
    sandbox.open_chat(SITEKEY)

    row = client.get("/admin/").context["dashboard"][0]

    assert row.chats_waiting.value == 2
    assert row.chats_waiting.url == f"/admin/livechat/chataction/{bot.pk}/?status=waiting"
