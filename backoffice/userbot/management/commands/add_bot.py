from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.userbot.services import bot_save


class Command(BaseCommand):
    help = "Create or update the Userbot bot of a sitekey (the API key is stored encrypted)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--url", required=True, help="ws:// or wss:// address of the server")
        parser.add_argument("--apikey", required=True)
        parser.add_argument("--sitekey", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            bot, created = bot_save(
                name=options["name"],
                sitekey=options["sitekey"],
                server_url=options["url"],
                apikey=options["apikey"],
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems) from None
        self.stdout.write(f"{'Created' if created else 'Updated'} bot {bot.name} ({bot.sitekey})")
