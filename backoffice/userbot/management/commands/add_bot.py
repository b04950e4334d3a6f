from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.userbot.services import bot_save


class Command(BaseCommand):
    help = "Create or update the Userbot bot of a sitekey (the API key is stored encrypted)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--url", required=True, help="ws:// or wss:// address of the server")
        parser.add_argument(
            "--apikey",
            help="the API key; better left out, since a command line is visible to every user of the "
            "machine: it is then read from USERBOT_APIKEY, else asked for (or read from standard input)",
        )
        parser.add_argument("--sitekey", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            bot, created = bot_save(
                name=options["name"],
                sitekey=options["sitekey"],
                server_url=options["url"],
                apikey=options["apikey"] or self._apikey(),
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems) from None
        self.stdout.write(f"{'Created' if created else 'Updated'} bot {bot.name} ({bot.sitekey})")

    def _apikey(self) -> str:
        """The key from the environment, or from the operator, so it never shows in ``ps``."""
        key = os.environ.get("USERBOT_APIKEY", "")
        if not key:
            key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline()
        key = key.strip()
        if not key:
            raise CommandError("No API key: set USERBOT_APIKEY, or type it when asked.")
        return key
