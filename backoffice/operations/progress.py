"""How a running operation tells how far it has come, and learns that it was cancelled."""

from __future__ import annotations

from django.db.models import F
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
