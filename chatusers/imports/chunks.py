"""The file of an import as chunks of validated rows, read by a thread one chunk ahead."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, suppress
from typing import Any

from django.core.files.storage import default_storage

from chatusers.import_models import ImportJob
from chatusers.imports.reading import FileFormat, read_rows
from chatusers.imports.validation import ParsedRow, RowValidator

CHUNK_ROWS = 5000


def file_format(job: ImportJob) -> FileFormat:
    """How the job's file is read, as its upload found it."""
    return FileFormat(
        encoding=job.encoding, encoding_note=job.encoding_note, delimiter=job.delimiter, header=job.header
    )


def chunked(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """``rows`` in lists of ``size``, the last one shorter."""
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def count_rows(job: ImportJob) -> int:
    """How many rows the job's file holds: a pass of its own over the file."""
    with default_storage.open(job.file.name, "rb") as stream:
        return sum(1 for _ in read_rows(stream, file_format(job)))


_Prepared = tuple[list[Any], list[ParsedRow], list[tuple[int, str, list[str]]]]


class ValidatedChunks:
    """The file's chunks, read and validated by a thread one chunk ahead.

    Reading and validating is pure Python and the upsert mostly waits on the database,
    which releases the GIL: overlapping them keeps both busy. The thread starts a chunk only
    once the one before has been taken, so memory stays at two chunks whatever the file's
    size.
    """

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.queue: queue.Queue[_Prepared | BaseException | None] = queue.Queue(maxsize=1)
        self.wanted = threading.Semaphore(1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name=f"import-{job.pk}-reader", daemon=True)

    def __enter__(self) -> Iterator[_Prepared]:
        self.thread.start()
        return self._consume()

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        with suppress(queue.Empty):
            while True:
                self.queue.get_nowait()
        self.thread.join(timeout=30)

    def _consume(self) -> Iterator[_Prepared]:
        while True:
            item = self.queue.get()
            self.wanted.release()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: _Prepared | BaseException | None) -> bool:
        while not self.stopping.is_set():
            with suppress(queue.Full):
                self.queue.put(item, timeout=0.2)
                return True
        return False

    def _wait_until_wanted(self) -> bool:
        while not self.stopping.is_set():
            if self.wanted.acquire(timeout=0.2):
                return True
        return False

    def _produce(self) -> None:
        validator = RowValidator(self.job.header, self.job.mapping)
        try:
            # Its own file handle: the row counter reads the same file at the same time.
            with default_storage.open(self.job.file.name, "rb") as stream:
                # Closed before the file, when the run stops early: the reader detaches from it.
                with closing(chunked(read_rows(stream, file_format(self.job)), CHUNK_ROWS)) as chunks:
                    while self._wait_until_wanted() and (chunk := next(chunks, None)) is not None:
                        rejected: list[tuple[int, str, list[str]]] = []
                        if not self._put((chunk, _parsed(validator, chunk, rejected), rejected)):
                            return
                    if self.stopping.is_set():
                        return
        except BaseException as error:  # handed to the consumer, which fails the job with it
            self._put(error)
            return
        self._put(None)


def _parsed(
    validator: RowValidator, chunk: Sequence[Any], rejected: list[tuple[int, str, list[str]]]
) -> list[Any]:
    parsed = []
    for row in chunk:
        if row.error:
            rejected.append((row.number, row.error, row.cells))
            continue
        outcome = validator.parse(row.number, row.cells)
        if isinstance(outcome, str):
            rejected.append((row.number, outcome, row.cells))
        else:
            parsed.append(outcome)
    return parsed
