"""Pipeline stages: database work overlapped with the main thread's socket work."""

from __future__ import annotations

import gc
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from django.db import connection


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a bulk read, then back as it was. Decoded JSON
    holds no cycles, yet with the pages in flight and the batch being applied alive (tens of
    thousands of dicts and lists), each of its full passes walks them all: a page kept costs
    three times one dropped at once. Reference counting frees them all the same; a cycle
    made meanwhile waits for the collector's next pass."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Stage:
    """One step of a pipeline run beside the main thread (or inline when not threaded),
    holding at most one piece of work; its thread's connection is closed at the end.

    Used where the work is mostly the database's (in its own process), so a thread of
    our own overlaps it with the socket work of the main thread.
    """

    def __init__(self, *, threaded: bool) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1) if threaded else None
        self.future: Future[Any] | None = None
        self.value: Any = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.executor is None:
            self.value = fn(*args)
            return
        self.result()
        self.future = self.executor.submit(fn, *args)

    def result(self) -> Any:
        if self.executor is None:
            value, self.value = self.value, None
            return value
        future, self.future = self.future, None
        return None if future is None else future.result()

    def close(self) -> Any:
        """Wait for the work in hand and return its result."""
        try:
            return self.result()
        finally:
            if self.executor is not None:
                self.executor.submit(_close_connection).result()
                self.executor.shutdown()


def _close_connection() -> None:
    connection.close()  # the stage thread's own connection (``connection`` is per thread)


class Workers:
    """Up to ``size`` pieces of database work at once, each in a thread with its own
    connection (inline when not threaded); ``submit`` waits while all are busy, and
    ``close`` waits for the rest, raises the first failure, and closes the connections."""

    def __init__(self, size: int, *, threaded: bool) -> None:
        self.size = size
        self.executor = ThreadPoolExecutor(max_workers=size) if threaded else None
        self.futures: deque[Future[Any]] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.executor is None:
            fn(*args)
            return
        while len(self.futures) >= self.size:
            self.futures.popleft().result()
        self.futures.append(self.executor.submit(fn, *args))

    def close(self) -> None:
        try:
            while self.futures:
                self.futures.popleft().result()
        finally:
            if self.executor is not None:
                # One closing task per thread: each waits for the others, so none runs twice.
                barrier = threading.Barrier(self.size)
                closing = [self.executor.submit(_close_after, barrier) for _ in range(self.size)]
                for future in closing:
                    future.result()
                self.executor.shutdown()


def _close_after(barrier: threading.Barrier) -> None:
    barrier.wait(timeout=30)
    connection.close()
