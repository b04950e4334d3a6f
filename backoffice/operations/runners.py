"""What each kind of operation does. A domain registers its runners when its app is ready,
as it registers its sync kinds: the operations know no domain.

A runner is called with the operation and its ``Progress``; it does the work in chunks,
each committed on its own, tells the progress after each, and returns what it did in
words. It must be safe to run again from the start after a worker died half-way: it
chooses its rows anew (those still lacking the tag, those still there), so a repeat does
only what is left.
"""

from __future__ import annotations

from collections.abc import Callable

from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress

Runner = Callable[[Operation, Progress], str]
_RUNNERS: dict[str, Runner] = {}


def register(kind: str, runner: Runner) -> None:
    if _RUNNERS.get(kind, runner) is not runner:
        raise ValueError(f"an operation runner is already registered as {kind!r}")
    _RUNNERS[kind] = runner


def runner_for(kind: str) -> Runner:
    try:
        return _RUNNERS[kind]
    except KeyError:
        raise LookupError(f"no operation runner is registered as {kind!r}") from None
