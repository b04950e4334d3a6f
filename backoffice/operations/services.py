"""Starting and cancelling long operations (``run`` runs them, in a worker)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backoffice.operations import tasks
from backoffice.operations.models import Operation
from backoffice.operations.runners import runner_for
from backoffice.userbot.models import Bot

Status = Operation.Status


@transaction.atomic
def operation_start(
    *,
    kind: str,
    title: str,
    actor: AbstractBaseUser,
    noun: str = "rows",
    bot: Bot | None = None,
    queryset: QuerySet[Any] | None = None,
    scope: str = "",
    params: dict[str, Any] | None = None,
) -> Operation:
    """Record the operation and queue it for a worker once the caller's transaction commits."""
    runner_for(kind)  # an unknown kind fails here, in the request, not in a worker
    operation = Operation(
        kind=kind, title=title[:300], noun=noun, bot=bot, scope=scope, params=params or {}, created_by=actor
    )
    if queryset is not None:
        operation.keep_queryset(queryset)
    operation.save()
    transaction.on_commit(lambda: tasks.run.delay(operation.pk))
    return operation


def operation_cancel(*, operation: Operation) -> bool:
    """Ask the operation to stop after the chunk it is writing; one still queued stops at
    once. Returns False if it had already finished. (The operation's row is its record:
    who started it, and how it ended.)"""
    asked = Operation.objects.filter(pk=operation.pk).exclude(status__in=Operation.FINISHED)
    if not asked.update(cancel_requested=True):
        return False
    # A queued one has no chunk in hand: it is cancelled now, and its task finds it so.
    Operation.objects.filter(pk=operation.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, finished_at=timezone.now(), result="Cancelled before it started."
    )
    return True
