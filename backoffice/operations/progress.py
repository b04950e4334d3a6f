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

    def total(self, total: int | None) -> None:
        self.operation.total = total
        self._write(total=total)

    def advance(self, done: int) -> None:
        """``done`` more rows are finished (committed)."""
        self.operation.done += done
        self._write(done=F("done") + done)

    def at(self, done: int, total: int | None, *, stoppable: bool = True) -> None:
        """The run is at ``done`` of ``total`` (a pull, which knows where it reads); at its
        end, when there is nothing left to stop, not ``stoppable``."""
        self.operation.done, self.operation.total = done, total
        if stoppable:
            self._write(done=done, total=total)
        else:
            Operation.objects.filter(pk=self.operation.pk).update(
                done=done, total=total, heartbeat_at=timezone.now()
            )

    def check(self) -> None:
        """Raise ``Cancelled`` if a cancel was asked for."""
        self._write()

    def _write(self, **fields: object) -> None:
        fields["heartbeat_at"] = timezone.now()
        this = Operation.objects.filter(pk=self.operation.pk)
        if not this.filter(cancel_requested=False).update(**fields):
            this.update(**fields)  # the counts of what was done before the cancel still hold
            raise Cancelled
