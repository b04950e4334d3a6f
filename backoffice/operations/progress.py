"""How a running operation tells how far it has come, and learns that it was cancelled; and
how a bulk service works through rows a chunk at a time, telling it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F, Model, QuerySet
from django.utils import timezone

from backoffice.operations.models import Operation


class Cancelled(Exception):
    """The operator cancelled the operation; what its finished chunks did stays done."""


class Progress:
    """Counts of one run of an operation, written after each chunk a runner finishes.

    Each write is one conditional update that fails once a cancel is asked for, so a runner
    stops between two chunks, never inside one.
    """

    def __init__(self, operation: Operation) -> None:
        self.operation = operation

    def total(self, left: int) -> None:
        """This run has ``left`` rows to do: the total is what runs before it did (a worker
        that died half-way) and those."""
        self.operation.total = self.operation.done + left
        self._write(total=self.operation.total)

    def advance(self, done: int) -> None:
        """``done`` more rows are finished (committed)."""
        self.operation.done += done
        self._write(done=F("done") + done)

    def at(self, done: int, total: int | None, *, stoppable: bool = True) -> None:
        """The run is at ``done`` of ``total`` (a pull, which knows where it reads); at its
        end, when there is nothing left to stop, not ``stoppable``."""
        self.operation.done, self.operation.total = done, total
        self._write(done=done, total=total, stoppable=stoppable)

    def check(self) -> None:
        """Raise ``Cancelled`` if a cancel was asked for."""
        self._write()

    def _write(self, *, stoppable: bool = True, **fields: object) -> None:
        fields["heartbeat_at"] = timezone.now()
        this = Operation.objects.filter(pk=self.operation.pk)
        if stoppable and this.filter(cancel_requested=False).update(**fields):
            return
        this.update(**fields)  # the counts of what was done before a cancel still hold
        if stoppable:
            raise Cancelled


M = TypeVar("M", bound=Model)
CHUNK_SIZE = 1000  # rows a chunk of a bulk service, one transaction each


def in_chunks(rows: QuerySet[M], apply: Callable[[list[M]], Any], *, progress: Progress | None) -> int:
    """``apply`` to the rows a chunk at a time, each chunk in a transaction of its own;
    returns how many rows there were. The rows come in primary-key order by keyset paging
    (a chunk that ``apply`` changes or deletes does not shift the next one), and a million
    never sit in memory at once. ``progress``, if given, learns the total first and hears of
    each chunk once it has committed (and may stop the run there)."""
    done, last_pk = 0, 0
    if progress is not None:
        progress.total(rows.count())
    while chunk := list(rows.filter(pk__gt=last_pk).order_by("pk")[:CHUNK_SIZE]):
        last_pk = chunk[-1].pk
        with transaction.atomic():
            apply(chunk)
        done += len(chunk)
        if progress is not None:
            progress.advance(len(chunk))
    return done
