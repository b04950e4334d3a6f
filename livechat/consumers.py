"""The live chat socket: a browser watching one bot's chats, or every bot's.

It authenticates and checks the permission in ``connect`` and refuses otherwise; then it
joins the bots' groups and asks this process's feeds to keep their subscriptions. It only
speaks: what an operator does goes through the pages' forms, which check and record it.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import URLPattern, path

from backoffice.userbot.models import Bot
from livechat.access import can_view_chats
from livechat.fanout import group_of
from livechat.feed import FEEDS

REFUSED = 4403


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """Forwards the news of the watched bots (events, status, resync, operators' acts)."""

    bot_ids: list[int]

    async def connect(self) -> None:
        self.bot_ids = []
        wanted = self.scope["url_route"]["kwargs"].get("bot_id")
        bot_ids = await _visible_bots(self.scope.get("user"), wanted)
        if not bot_ids:
            await self.close(code=REFUSED)
            return
        await self.accept()
        for bot_id in bot_ids:
            await self.channel_layer.group_add(group_of(bot_id), self.channel_name)
            FEEDS.watch(bot_id, self.channel_layer)
        self.bot_ids = bot_ids

    async def disconnect(self, code: int) -> None:
        for bot_id in self.bot_ids:
            FEEDS.unwatch(bot_id)
            await self.channel_layer.group_discard(group_of(bot_id), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Nothing is taken from the browser here: acts go through the pages' forms."""

    async def chat_news(self, message: dict[str, Any]) -> None:
        await self.send_json(message["body"])


@database_sync_to_async
def _visible_bots(user: Any, bot_id: int | None) -> list[int]:
    if user is None or not can_view_chats(user):
        return []
    bots = Bot.objects.order_by("pk")
    if bot_id is not None:
        bots = bots.filter(pk=bot_id)
    return list(bots.values_list("pk", flat=True))


websocket_urlpatterns: list[URLPattern] = [
    path("ws/chats/", ChatConsumer.as_asgi()),
    path("ws/chats/<int:bot_id>/", ChatConsumer.as_asgi()),
]
