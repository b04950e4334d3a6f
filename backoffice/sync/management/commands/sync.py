"""Run one sync cycle of a bot in the foreground and print what it did."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.sync.kinds import SKIPPED
from backoffice.sync.models import BotSync, OutboxEntry
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot.errors import ConnectFailed, TransportError, UserbotError
from backoffice.userbot.models import Bot


class Command(BaseCommand):
    help = (
        "Pull the bot from Userbot, then push its pending changes (or only one of them), and print "
        "what happened. --wait keeps pushing until nothing is pending or in flight."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, metavar="SITEKEY")
        parser.add_argument("--push", action="store_true", help="push only (with --pull: both)")
        parser.add_argument("--pull", action="store_true", help="pull only (with --push: both)")
        parser.add_argument("--wait", action="store_true", help="push until the outbox is empty")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits at most")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(sitekey=options["bot"]).first()
        if bot is None:
            raise CommandError(f"No bot has the sitekey {options['bot']!r}; add it with add_bot first.")
        both = options["push"] == options["pull"]
        try:
            if both or options["pull"]:
                report = pull_bot(bot)
                if report is None:
                    self.stdout.write("Pull: another pull of this bot is running; skipped.")
                else:
                    self.stdout.write(f"Pull: {_describe(report)}")
                    self._pull_problems(bot, report)
            if both or options["push"]:
                self._push(bot, wait=options["wait"], timeout=options["timeout"])
        except (ConnectFailed, TransportError, UserbotError, RuntimeError) as exc:
            raise CommandError(f"Sync of {bot.sitekey} failed: {exc}") from None

    def _pull_problems(self, bot: Bot, report: dict[str, Any]) -> None:
        """Say which lists failed (the rest were pulled, and the push goes on) and which of
        Userbot's objects were skipped, as the bot's sync page does."""
        failed = BotSync.objects.filter(bot=bot).values_list("pull_error", flat=True).first()
        if failed:
            self.stderr.write(f"Pull: these lists failed and are read again next time: {failed}")
        for entry in report.get(SKIPPED, ()):
            self.stderr.write(f"Pull: skipped {entry['kind']} {entry['id'] or '(no id)'}: {entry['reason']}")

    def _push(self, bot: Bot, *, wait: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            report = push_pending(bot)
            self.stdout.write(f"Push: {report}")
            if report.needs_pull:
                # Userbot changed a field we changed too: a pull settles it under the bot's
                # policy, here and now, as the push task queues one in a worker.
                pulled = pull_bot(bot)
                said = "another pull of this bot is running" if pulled is None else _describe(pulled)
                self.stdout.write(f"Pull: {said}")
            waiting = OutboxEntry.objects.filter(
                bot=bot, state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT]
            )
            if not wait or not waiting.exists():
                break
            if time.monotonic() > deadline:
                raise CommandError(f"{waiting.count()} changes still waiting after {timeout:.0f} s")
            time.sleep(0.5)
        dead = OutboxEntry.objects.filter(bot=bot, state=OutboxEntry.State.DEAD).count()
        if dead:
            self.stdout.write(f"{dead} changes are in the dead-letter list (see the admin's outbox).")


def _describe(report: dict[str, Any]) -> str:
    parts = []
    for kind, counts in sorted(report.items()):
        if kind == SKIPPED:
            continue  # listed one by one
        words = ", ".join(f"{what} {n}" for what, n in sorted(counts.items()))
        parts.append(f"{kind}: {words}")
    return "; ".join(parts) or "nothing changed"
