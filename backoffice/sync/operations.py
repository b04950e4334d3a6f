"""An operator's re-pull as a long operation: the reconciliation of one bot, followed on the
operation's page (chat users read of Userbot's count, rate, time left) and cancellable
between two batches, its checkpoint kept so the next pull goes on from there."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from backoffice.operations import services as operations
from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress
from backoffice.operations.runners import register as register_runner
from backoffice.sync.kinds import SKIPPED
from backoffice.sync.pull import pull_bot
from backoffice.userbot.models import Bot

KIND = "sync.pull"


def pull_start(*, bot: Bot, actor: AbstractBaseUser, back_url: str = "") -> Operation:
    """Start a reconciliation of ``bot`` that its starter follows on the operation's page."""
    return operations.operation_start(
        kind=KIND,
        title=f"Pull {bot} from Userbot",
        noun="chat users read",
        actor=actor,
        bot=bot,
        scope="Everything of the bot's on Userbot, compared with what is here",
        params={"back_url": back_url},
    )


def pull(operation: Operation, progress: Progress) -> str:
    if operation.bot is None:
        raise LookupError("the bot was deleted after the pull was asked for")
    report = pull_bot(operation.bot, progress=progress)
    if report is None:
        return (
            "Another pull of this bot was running, so this one did not start: the bot's sync page follows it."
        )
    return f"Reconciled with Userbot. {summary(report)}"


def summary(report: dict[str, Any]) -> str:
    """A pull's report in a line: each kind's counts, and how many objects were skipped."""
    counts = {kind: value for kind, value in report.items() if kind != SKIPPED and isinstance(value, dict)}
    parts = [
        f"{kind}: " + ", ".join(f"{what} {n:,}" for what, n in sorted(kind_counts.items()))
        for kind, kind_counts in sorted(counts.items())
        if kind_counts
    ]
    return "; ".join(parts) + "." if parts else "Nothing had changed."


def register() -> None:
    register_runner(KIND, pull)
