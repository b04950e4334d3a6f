from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.userbot.connections import client_for
from backoffice.userbot.crypto import SecretUnreadable
from backoffice.userbot.errors import TransportError, UserbotError
from backoffice.userbot.models import Bot


class Command(BaseCommand):
    help = "Log in to a bot's Userbot server and print who we are and the bot's name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, metavar="SITEKEY")
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(sitekey=options["bot"]).first()
        if bot is None:
            raise CommandError(f"No bot with sitekey {options['bot']!r}; add it with add_bot.")
        try:
            client = client_for(bot, timeout=options["timeout"], connect_timeout=options["timeout"])
            with client:
                handshake = client.connect()
        except SecretUnreadable as exc:
            raise CommandError(str(exc)) from None
        except UserbotError as exc:
            raise CommandError(f"{bot.server_url} refused: {exc.status} {exc.code}: {exc.message}") from None
        except TransportError as exc:
            raise CommandError(f"Cannot reach {bot.server_url}: {exc}") from None
        who = handshake.who
        self.stdout.write(
            f"Connected to {bot.server_url} as {who.get('name')} <{who.get('email')}> "
            f"(user {who.get('id')}, role {who.get('role')}); bot: {handshake.bot_name}"
        )
