"""The sync's long operations: an operator's re-pull, the reconciliation of one bot followed
on the operation's page (chat users read of Userbot's count, rate, time left) and
cancellable between two batches, its checkpoint kept so the next pull goes on from there;
and a retry or an ignore of every dead letter a list matches, a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from backoffice.operations import services as operations
from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress
from backoffice.operations.runners import register as register_runner
from backoffice.sync import services
from backoffice.sync.kinds import SKIPPED
from backoffice.sync.models import OutboxEntry
from backoffice.sync.pull import pull_bot
from backoffice.userbot.models import Bot

KIND = "sync.pull"
DEAD_CHUNK = 500
# What retrying and ignoring a dead entry call, and what the operator is told they did.
DEAD_ACTS: dict[str, tuple[Callable[..., Any], str]] = {
    "retry": (services.outbox_entry_retry, "Queued again"),
    "ignore": (services.outbox_entry_ignore, "Ignored"),
}


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


def dead_entries_apply(
    *,
    entries: QuerySet[OutboxEntry],
    service: Callable[..., Any],
    actor: AbstractBaseUser,
    progress: Progress | None = None,
) -> int:
    """Apply ``service`` (retry or ignore) to each dead entry of ``entries``, a chunk at a
    time in id order; returns how many it applied (one retried or ignored by someone else
    meanwhile is passed over)."""
    dead = entries.filter(state=OutboxEntry.State.DEAD)
    if progress is not None:
        progress.total(dead.count())
    applied, last_pk = 0, 0
    while chunk := list(dead.filter(pk__gt=last_pk).order_by("pk")[:DEAD_CHUNK]):
        last_pk = chunk[-1].pk
        for entry in chunk:
            try:
                service(entry=entry, actor=actor)
            except ValidationError:
                continue
            applied += 1
        if progress is not None:
            progress.advance(len(chunk))
    return applied


def dead_entries(applied: int) -> str:
    return f"{applied:,} dead entr{'ies' if applied != 1 else 'y'}"


def _on_dead(service: Callable[..., Any], verb: str) -> Callable[[Operation, Progress], str]:
    def run(operation: Operation, progress: Progress) -> str:
        applied = dead_entries_apply(
            entries=operation.queryset(), service=service, actor=operation.starter(), progress=progress
        )
        return f"{verb} {dead_entries(applied)}."

    return run


def register() -> None:
    register_runner(KIND, pull)
    for act, (service, done) in DEAD_ACTS.items():
        register_runner(f"sync.dead_{act}", _on_dead(service, done))
