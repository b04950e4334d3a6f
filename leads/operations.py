"""Tagging leads, said once for the request (a selection) and for a long operation in a
worker (every lead a list matches); ``register`` gives the operations their runners."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress
from backoffice.operations.runners import register as register_runner
from leads import services
from leads.models import Lead


def counted(count: int) -> str:
    return f"{count:,} lead{'s' if count != 1 else ''}"


def add_tag(
    *, leads: QuerySet[Lead], tag: str, actor: AbstractBaseUser, progress: Progress | None = None
) -> str:
    changed = services.lead_add_tag(leads=leads, tag=tag, actor=actor, progress=progress)
    return f"Tag “{tag}” added to {counted(changed)}."


def remove_tag(
    *, leads: QuerySet[Lead], tag: str, actor: AbstractBaseUser, progress: Progress | None = None
) -> str:
    changed = services.lead_remove_tag(leads=leads, tag=tag, actor=actor, progress=progress)
    return f"Tag “{tag}” removed from {counted(changed)}."


def _runner(action: Callable[..., str]) -> Callable[[Operation, Progress], str]:
    def run(operation: Operation, progress: Progress) -> str:
        return action(
            leads=operation.queryset(),
            tag=operation.params["tag"],
            actor=operation.starter(),
            progress=progress,
        )

    return run


def register() -> None:
    register_runner("leads.add_tag", _runner(add_tag))
    register_runner("leads.remove_tag", _runner(remove_tag))
