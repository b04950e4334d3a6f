"""A long operation a page started, run as a worker runs it: in a thread of its own, since
the test's thread keeps the browser's event loop."""

from __future__ import annotations

import threading

from django.db import connection

from backoffice.operations.run import operation_run


def run_as_a_worker(queued: list[int], *, wait_s: float = 30) -> threading.Thread:
    """Run the one operation queued, in a thread; return it once it has ended."""
    assert len(queued) == 1, queued
    thread = in_a_worker(queued[0])
    thread.join(timeout=wait_s)
    assert not thread.is_alive()
    return thread


def in_a_worker(operation_id: int) -> threading.Thread:
    """Start the operation in a thread and return the thread, still running."""

    def work() -> None:
        try:
            operation_run(operation_id=operation_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread
