"""Run one sync cycle of a bot in the foreground and print what it did.

With ``--wait`` the exit status says where the bot's changes ended up, for a script to act
on: 0 all sent; 1 the sync failed, or the wait timed out with changes still to send;
3 changes wait on conflicts an operator must settle; 4 changes are dead letters; 5 both.
(2 is argparse's: a command line it could not read.)
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Exists, OuterRef, Q

from backoffice.sync.kinds import SKIPPED, kind_for
from backoffice.sync.models import BotSync, OutboxEntry, SyncState, record_model
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot.errors import ConnectFailed, TransportError, UserbotError
from backoffice.userbot.models import Bot

Pending, InFlight, Dead = OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT, OutboxEntry.State.DEAD
ON_CONFLICTS, DEAD_LETTERS, BOTH = 3, 4, 5


class Command(BaseCommand):
    help = (
        "Pull the bot from Userbot, then push its pending changes (or only one of them), and print "
        "what happened. --wait keeps pushing until no change is left that a push can send, and "
        "exits 0 when all were sent, 3 when changes wait on conflicts an operator must settle, "
        "4 when changes are dead letters, 5 when both, and 1 when the sync failed or timed out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, metavar="SITEKEY")
        parser.add_argument("--push", action="store_true", help="push only (with --pull: both)")
        parser.add_argument("--pull", action="store_true", help="pull only (with --push: both)")
        parser.add_argument("--wait", action="store_true", help="push until nothing sendable is left")
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
                self._not_sent(bot, wait=options["wait"])
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
        queued = OutboxEntry.objects.filter(bot=bot, state__in=[Pending, InFlight])
        while True:
            report = push_pending(bot)
            self.stdout.write(f"Push: {report}")
            if report.needs_pull:
                # Userbot changed a field we changed too: a pull settles it under the bot's
                # policy, here and now, as the push task queues one in a worker.
                pulled = pull_bot(bot)
                said = "another pull of this bot is running" if pulled is None else _describe(pulled)
                self.stdout.write(f"Pull: {said}")
            # Entries waiting out a backoff, or behind one in flight, are sent by a later push;
            # a change parked on a conflict is not, until an operator settles the conflict.
            sendable = queued.exclude(_on_conflicts(bot))
            if not wait or not sendable.exists():
                return
            if time.monotonic() > deadline:
                raise CommandError(f"{sendable.count()} changes still to send after {timeout:.0f} s")
            time.sleep(0.5)

    def _not_sent(self, bot: Bot, *, wait: bool) -> None:
        """Say what no push can send; with --wait, exit with the status that says which."""
        on_conflicts = OutboxEntry.objects.filter(_on_conflicts(bot), bot=bot).count()
        dead = OutboxEntry.objects.filter(bot=bot, state=Dead).count()
        if on_conflicts:
            self.stdout.write(f"Not sent: {on_conflicts} waiting on conflicts (the admin's sync conflicts).")
        if dead:
            self.stdout.write(f"Not sent: {dead} in the dead-letter list (the admin's outbox entries).")
        if wait and (on_conflicts or dead):
            status = BOTH if on_conflicts and dead else ON_CONFLICTS if on_conflicts else DEAD_LETTERS
            raise CommandError(
                f"Not everything was sent: {on_conflicts} waiting on conflicts, {dead} dead letters.",
                returncode=status,
            )


def _on_conflicts(bot: Bot) -> Q:
    """The bot's pending changes whose object is in conflict: the relay parks them (as
    ``relay._items`` decides, on the object's sync state) until an operator settles it."""
    held = Q(pk__in=[])
    pending = OutboxEntry.objects.filter(bot=bot, state=Pending, deleted=False)
    for label in pending.order_by().values_list("object_type", flat=True).distinct():
        records = record_model(kind_for(label).model)._default_manager
        in_conflict = records.filter(pk=OuterRef("object_id"), sync_state=SyncState.CONFLICT)
        held |= Q(Exists(in_conflict), object_type=label, state=Pending, deleted=False)
    return held


def _describe(report: dict[str, Any]) -> str:
    parts = []
    for kind, counts in sorted(report.items()):
        if kind == SKIPPED:
            continue  # listed one by one
        words = ", ".join(f"{what} {n}" for what, n in sorted(counts.items()))
        parts.append(f"{kind}: {words}")
    return "; ".join(parts) or "nothing changed"
