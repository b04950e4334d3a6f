"""Writes to the Userbot connection records."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from backoffice.userbot.models import Bot


@transaction.atomic
def bot_save(*, name: str, sitekey: str, server_url: str, apikey: str | None) -> tuple[Bot, bool]:
    """Create the bot of ``sitekey`` or update it; an empty ``apikey`` keeps the stored one."""
    bot = Bot.objects.select_for_update().filter(sitekey=sitekey).first()
    created = bot is None
    if bot is None:
        bot = Bot(sitekey=sitekey)
    bot.name = name
    bot.server_url = server_url
    if apikey:
        bot.set_apikey(apikey)
    if not bot.has_apikey:
        raise ValidationError({"apikey": "A new bot needs an API key."})
    bot.full_clean()
    bot.save()
    return bot, created
