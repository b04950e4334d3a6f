"""A sample of an uploaded file's first rows, for the mapping page."""

from __future__ import annotations

import io
from itertools import islice

from chatusers.import_models import ImportJob
from chatusers.imports import reading
from chatusers.imports.encoding import ImportRejected
from chatusers.imports.reading import size_text

SAMPLE_ROWS = 5
# The sample is read from the start of the file only, so a huge file or a huge first
# field costs the mapping page no more than this.
SAMPLE_BYTES = 256 * 1024
SAMPLE_CELL_CHARS = 60


def sample_rows(job: ImportJob, limit: int = SAMPLE_ROWS) -> list[list[str]]:
    """The first ``limit`` data rows, cut to a readable width; a row that cannot be parsed
    shows its error in place of its cells, and so does a first row the sample cannot hold."""
    # The header is read whole, however long: the sample starts after it.
    header_bytes = 4 * (2 * sum(len(column) for column in job.header) + 3 * len(job.header) + 2)
    sample_bytes = SAMPLE_BYTES + header_bytes
    try:
        with job.file.open("rb") as stored:
            head = stored.read(sample_bytes)
            whole = len(head) < sample_bytes or not stored.read(1)
    except (OSError, ValueError):
        return []
    file_format = reading.FileFormat(
        encoding=job.encoding or "utf-8",
        encoding_note=job.encoding_note,
        delimiter=job.delimiter,
        header=job.header,
    )
    try:
        rows = list(islice(reading.read_rows(io.BytesIO(head), file_format), limit + 1))
    except ImportRejected as rejected:
        return [[f"⚠ {rejected.message}"]]
    if not whole and len(rows) <= limit and rows:
        last = rows.pop()  # cut at the edge of the sample
        if not rows:
            # The first row alone runs past the sample: say why rather than show nothing.
            reason = (
                "its quote is still open"
                if "never closed" in last.error
                else "it is longer than the preview reads"
            )
            return [[f"⚠ Row 1 runs past the first {size_text(sample_bytes)} of the file ({reason})."]]
    return [
        [_shorten(cell) for cell in row.cells] if not row.error else [f"⚠ {row.error}"]
        for row in rows[:limit]
    ]


def _shorten(cell: str) -> str:
    cell = cell.replace("\x00", "")
    return cell if len(cell) <= SAMPLE_CELL_CHARS else cell[: SAMPLE_CELL_CHARS - 1] + "…"
