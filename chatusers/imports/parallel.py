"""Decided chunks of an import written side by side on PostgreSQL, on connections of their
own, committed in file order (``ChunkWriters``)."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection, transaction

from chatusers.imports.plan import ChunkResult
from chatusers.imports.progress import Books
from chatusers.imports.upsert import Upserter, prepare_chunk

TURN_CHECK_SECONDS = 0.2


@dataclass
class _Chunk:
    sequence: int
    rows: int
    plan: Any
    result: ChunkResult
    rejected: list[tuple[int, str, list[str]]]
    tag_ids: dict[str, int]
    backend_pid: int | None = None


class _YieldTurn(Exception):
    """The chunk before is waiting on a lock: roll back, so it can never be ours."""


class ChunkWriters:
    """Writes decided chunks on connections of their own, committing them in file order.

    A chunk's rows, counters and outbox entries still commit in one transaction, and chunk
    n+1 commits only after chunk n, so ``rows_done`` still marks where a crashed run
    resumes. What overlaps is the work: the database inserts and checks one chunk while
    the next is written and this thread reads and decides the one after (PostgreSQL works
    a connection on one core).

    Chunks cannot lock each other out: the keys a chunk takes were claimed by its rows
    alone, and a chat user is changed by one row of a file. A chunk waiting for its turn
    holds locks, though, which someone the chunk before waits on might want: so while it
    waits it watches the chunk before, and if that one waits on a lock it rolls back and
    writes again once that one has committed.
    """

    def __init__(self, upserter: Upserter, books: Books, width: int) -> None:
        self.upserter, self.books, self.width = upserter, books, width
        self.queue: queue.Queue[_Chunk | None] = queue.Queue()
        # A chunk is handed over only to a free writer: the next one waits, decided, in the
        # deciding thread, so at most width + 1 decided chunks are held at a time.
        self.free = threading.Semaphore(width)
        self.turn = threading.Condition()
        self.submitted = 0
        self.committed = 0
        self.failure: BaseException | None = None
        # The chunk that failed (0: the run itself): the chunks before it may still commit.
        self.failed_at = 0
        self.in_flight: dict[int, _Chunk] = {}
        self.threads = [
            threading.Thread(target=self._work, name=f"import-writer-{n}", daemon=True) for n in range(width)
        ]

    def __enter__(self) -> ChunkWriters:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.threads:
            return
        with self.turn:
            if self.failure is None and exc[0] is not None:
                # Chunks waiting for their turn roll back: the run stops at the last commit.
                self.failure = RuntimeError("the import stopped")
            self.turn.notify_all()
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()

    def touched(self) -> set[int]:
        with self.turn:
            return {pk for chunk in self.in_flight.values() if chunk.plan for pk in chunk.plan.touched()}

    def submit(
        self,
        rows: int,
        plan: Any,
        result: ChunkResult,
        rejected: list[tuple[int, str, list[str]]],
        tag_ids: dict[str, int],
    ) -> None:
        while not self.free.acquire(timeout=TURN_CHECK_SECONDS):
            with self.turn:
                self._raise_failure()
        with self.turn:
            try:
                self._raise_failure()
            except BaseException:
                self.free.release()
                raise
            self.submitted += 1
            chunk = _Chunk(self.submitted, rows, plan, result, rejected, tag_ids)
            self.in_flight[chunk.sequence] = chunk
        self.queue.put(chunk)

    def settle(self) -> None:
        """Wait until every chunk submitted has committed; raise what made one fail."""
        with self.turn:
            while self.committed < self.submitted and self.failure is None:
                self.turn.wait()
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _raise_failure_before(self, chunk: _Chunk) -> None:
        """A chunk after one that failed never gets its turn: it rolls back."""
        if self.failure is not None and self.failed_at < chunk.sequence:
            raise self.failure

    def _work(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend_pid = cursor.fetchone()[0]
            writer = self.upserter.new_writer()
            while (chunk := self.queue.get()) is not None:
                chunk.backend_pid = backend_pid
                try:
                    self._write(chunk, writer)
                except BaseException as error:
                    self._fail(error, chunk.sequence)
                    raise
                finally:
                    self.free.release()
        except BaseException as error:
            self._fail(error, 0)
        finally:
            connection.close()

    def _fail(self, error: BaseException, sequence: int) -> None:
        with self.turn:
            if self.failure is None:
                self.failure, self.failed_at = error, sequence
            self.turn.notify_all()

    def _write(self, chunk: _Chunk, writer: Any) -> None:
        while True:
            result = replace(chunk.result, rejected=list(chunk.result.rejected))
            try:
                with transaction.atomic():
                    prepare_chunk()
                    if chunk.plan is not None:
                        self.upserter.write(chunk.plan, result, writer, chunk.tag_ids, {})
                    self._wait_turn(chunk)
                    self.books.commit(chunk.rows, result, chunk.rejected)
            except _YieldTurn:
                with self.turn:
                    while self.committed < chunk.sequence - 1:
                        self._raise_failure_before(chunk)
                        self.turn.wait()
                continue
            break
        with self.turn:
            self.committed = chunk.sequence
            del self.in_flight[chunk.sequence]
            self.turn.notify_all()
        self.books.published(chunk.rows)

    def _wait_turn(self, chunk: _Chunk) -> None:
        while True:
            with self.turn:
                if self.committed >= chunk.sequence - 1:
                    return
                self._raise_failure_before(chunk)
                if self.turn.wait(timeout=TURN_CHECK_SECONDS):
                    continue
                before = self.in_flight.get(chunk.sequence - 1)
            if before is not None and before.backend_pid is not None and _blocked(before.backend_pid):
                raise _YieldTurn


def _blocked(backend_pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [backend_pid])
        return bool(cursor.fetchone()[0])
