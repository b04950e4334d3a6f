"""The live chat socket: who may open it, and the news it carries from one Userbot
subscription per bot, with Redis (production) and with the in-process layer (embedded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission

from livechat.consumers import websocket_urlpatterns
from livechat.feed import FEEDS, release_lease, take_lease
from livechat.models import ChatFeedLease
from tests.conftest import SITEKEY

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["redis", "in-process"])
def layer(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """The channel layer of either topology; the process's feeds are stopped after."""
    if request.param == "in-process":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends = {}
    yield request.param
    FEEDS.stop_all()
    channel_layers.backends = {}


def _user(name: str, permission: str | None) -> Any:
    """A staff user with ``permission`` (a transactional test empties the tables, roles included)."""
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    if permission:
        user.user_permissions.add(Permission.objects.get(codename=permission))
    return user


def _connect(user: Any, path: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    communicator.scope["user"] = user
    return communicator


async def _until(communicator: WebsocketCommunicator, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next news of ``kind`` within ``timeout`` seconds, skipping the others."""
    deadline = time.monotonic() + timeout
    while True:
        news = await communicator.receive_json_from(timeout=max(0.01, deadline - time.monotonic()))
        if news["type"] == kind:
            return news


@pytest.mark.parametrize("who", ["anonymous", "no role"])
def test_the_chat_socket_refuses_who_may_not_read_chats(bot: Any, who: str, layer: str) -> None:
    user = AnonymousUser() if who == "anonymous" else _user("nobody", None)

    async def scenario() -> tuple[bool, int | None]:
        communicator = _connect(user, f"/ws/chats/{bot.pk}/")
        connected, code = await communicator.connect()
        # The consumer ends as behind a server: told the socket is gone, not cancelled with
        # the test's event loop while its channel-layer receive is pending.
        await communicator.disconnect()
        return connected, code

    assert async_to_sync(scenario)() == (False, 4403)
    assert not ChatFeedLease.objects.exclude(holder="").exists()


def test_a_viewer_gets_the_bots_chat_events_live_through_one_subscription(
    sandbox: Any, bot: Any, layer: str
) -> None:
    viewer = _user("vera", "view_chataction")
    chat = sandbox.open_chat(SITEKEY)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], int]:
        first = _connect(viewer, f"/ws/chats/{bot.pk}/")
        second = _connect(viewer, "/ws/chats/")
        assert (await first.connect())[0] and (await second.connect())[0]
        await _until(first, "resync")
        await _until(second, "resync")
        said = threading.Thread(target=sandbox.visitor_says, args=(SITEKEY, chat["id"], "<b>hi</b>"))
        said.start()
        news_first = await _until(first, "message")
        news_second = await _until(second, "message")
        said.join()
        sandbox.ask_for_human(SITEKEY, chat["id"])
        session = await _until(first, "session")
        subscribed = sum(1 for c in sandbox.server.sessions if "chat" in c.topics)
        await first.disconnect()
        await second.disconnect()
        return news_first, news_second, session, subscribed

    news_first, news_second, session, subscribed = async_to_sync(scenario)()

    assert news_first == news_second
    assert news_first["bot"] == bot.pk
    assert news_first["session_id"] == chat["id"]
    assert (news_first["message"]["from"], news_first["message"]["text"]) == ("user", "<b>hi</b>")
    assert (session["session"]["status"], session["session"]["agent_id"]) == ("agent", None)
    assert subscribed == 1  # one Userbot subscription fed both sockets


def test_a_dropped_userbot_connection_shows_reconnecting_then_asks_pages_to_read_again(
    sandbox: Any, bot: Any, layer: str
) -> None:
    viewer = _user("vera", "view_chataction")

    async def scenario() -> list[str]:
        socket = _connect(viewer, f"/ws/chats/{bot.pk}/")
        await socket.connect()
        await _until(socket, "resync")
        sandbox.drop_connections()
        seen = []
        deadline = time.monotonic() + 15
        while "resync" not in seen:
            news = await socket.receive_json_from(timeout=max(0.01, deadline - time.monotonic()))
            seen.append(news["type"] if news["type"] != "status" else news["state"])
        await socket.disconnect()
        return seen

    seen = async_to_sync(scenario)()

    assert seen[0] == "reconnecting"
    assert seen[-2:] == ["live", "resync"]


def test_a_lease_is_held_by_one_process_at_a_time_and_taken_over_once_it_ends(bot: Any) -> None:
    assert take_lease(bot.pk, "web-1") is True
    assert take_lease(bot.pk, "web-2") is False
    assert take_lease(bot.pk, "web-1") is True  # renewal

    ChatFeedLease.objects.filter(bot=bot).update(until="2000-01-01T00:00:00Z")  # web-1 died
    assert take_lease(bot.pk, "web-2") is True
    assert take_lease(bot.pk, "web-1") is False
    release_lease(bot.pk, "web-2")
    assert take_lease(bot.pk, "web-1") is True
