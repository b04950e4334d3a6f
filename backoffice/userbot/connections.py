"""Opening protocol clients for the bots the back office knows."""

from __future__ import annotations

from django.conf import settings

from backoffice.userbot.client import UserbotClient
from backoffice.userbot.models import Bot


def client_for(bot: Bot, *, apikey: str | None = None, **options: float | int | bool) -> UserbotClient:
    """A client for ``bot`` configured from settings; the caller connects and closes it.

    ``apikey`` logs in as another Userbot user of the bot's account (an operator's own key)
    instead of with the bot's key."""
    options.setdefault("timeout", settings.USERBOT_REQUEST_TIMEOUT_S)
    options.setdefault("heartbeat", settings.USERBOT_HEARTBEAT_S)
    options.setdefault("max_frame_bytes", settings.USERBOT_MAX_FRAME_BYTES)
    return UserbotClient(bot.server_url, apikey or bot.reveal_apikey(), bot.sitekey, **options)
