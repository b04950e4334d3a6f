"""Reading an uploaded CSV: its delimiter, its header, and its rows one at a time.

Nothing here holds the whole file: the encoding is decided first (``encoding``), the
header is read a line at a time up to a bound, and ``read_rows`` yields rows as it parses
them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO

from chatusers.imports.encoding import SAMPLE_BYTES, ImportRejected, detect_encoding

# A cell longer than this is an error of its row, not a reason to hold a huge string.
MAX_CELL_CHARS = 64 * 1024
# The csv module's limit is one for the whole process, not one per reader. Set around each
# read, a reader that ended put the default (128K) back under another still reading (the
# row count runs beside the import), which then took cells twice too long and read a quote
# left open that much further. It is set once, here, for every reader of the process.
csv.field_size_limit(MAX_CELL_CHARS)
# The header is read whole before anything else, so it has a bound of its own, far above
# what the column limit (CHATUSER_IMPORT_MAX_COLUMNS) lets through with sensible names.
MAX_HEADER_CHARS = 1_000_000
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
# Separators people use that the import does not read, named for the message that says so.
FOREIGN_SEPARATORS = {"|": "pipes (|)", ":": "colons (:)"}
# The start of a page saved from a browser, or of an XML export: never a CSV header.
_MARKUP = re.compile(r"<(!doctype\s+html|html|head|body|table|\?xml)[\s>]", re.IGNORECASE)
# Sizes for people are in decimal units, as the README and the settings give them.
_SIZE_UNITS = (("GB", 10**9), ("MB", 10**6), ("kB", 10**3))


@dataclass(frozen=True)
class FileFormat:
    encoding: str
    encoding_note: str
    delimiter: str
    header: list[str]


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its number (1 = the first row after the header), its cells, or why it
    could not be parsed (then ``cells`` is what was read of it, maybe nothing)."""

    number: int
    cells: list[str]
    error: str = ""


def size_text(size: int) -> str:
    """``size`` bytes for people, in decimal units (1 MB = 1,000,000 bytes): ``200 MB``, ``2.5 kB``."""
    for unit, scale in _SIZE_UNITS:
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def detect_delimiter(first_line: str) -> str:
    """The delimiter the header line uses most, outside quotes: comma, semicolon or tab."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_text(stream: BinaryIO, encoding: str) -> io.TextIOWrapper:
    """The file as text for the csv module (which wants ``newline=""`` to see quoted line ends)."""
    stream.seek(0)
    return io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")


class _HeaderLines:
    """The file's lines for reading its header, refusing the header once it has taken more
    than ``MAX_HEADER_CHARS`` characters (however many lines a quoted name spans)."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text, self.left, self.count = text, MAX_HEADER_CHARS, 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.text.readline(self.left + 1)
        if not line:
            raise StopIteration
        if len(line) > self.left:
            raise ImportRejected(
                f"The header row is longer than {MAX_HEADER_CHARS:,} characters, the most the import "
                "reads: the first row of the file must be a header of column names."
            )
        self.left -= len(line)
        self.count += 1
        return line


def sniff(stream: BinaryIO, *, max_columns: int | None = None) -> FileFormat:
    """Encoding, delimiter and header of ``stream``, or ImportRejected saying why it cannot
    be read: the header is parsed by the csv reader ``read_rows`` uses, so the two always
    agree on where the header ends."""
    encoding, note = detect_encoding(stream)
    text = open_text(stream, encoding)
    try:
        delimiter, header, first_row = _read_header(text)
    finally:
        text.detach()
        stream.seek(0)
    header = [cell.strip() for cell in header]
    if len(header) == 1:
        for separator, name in FOREIGN_SEPARATORS.items():
            if separator in header[0] and separator in first_row:
                raise ImportRejected(
                    f"The header (line 1) is one column, “{header[0][:60]}”: the file separates its "
                    f"columns with {name}. Separate them with commas, semicolons or tabs."
                )
    if not any(header):
        raise ImportRejected("The header row has no column names.")
    if max_columns is not None and len(header) > max_columns:
        raise ImportRejected(
            f"The header has {len(header)} columns; the import reads at most {max_columns}. "
            "Remove the columns you do not import and upload the file again."
        )
    blank = [str(index + 1) for index, cell in enumerate(header) if not cell]
    if blank:
        raise ImportRejected(f"Column {', '.join(blank)} of the header has no name.")
    seen: set[str] = set()
    for cell in header:
        if cell.lower() in seen:
            raise ImportRejected(f"The header names the column “{cell}” twice.")
        seen.add(cell.lower())
    return FileFormat(encoding=encoding, encoding_note=note, delimiter=delimiter, header=header)


def _read_header(text: io.TextIOWrapper) -> tuple[str, list[str], str]:
    """The delimiter, the header's cells and the first line after the header that is not
    blank (cut to a sample), read from the start of ``text``."""
    lines = _HeaderLines(text)
    try:
        first = next(lines, "")
        if not first.strip():
            raise ImportRejected(_blank_start(lines))
        _refuse_markup(first, 1)
        if "\x00" in first:
            raise ImportRejected("The header row holds NUL characters: this is not a CSV file.")
        delimiter = detect_delimiter(first)
        reader = csv.reader(chain([first], lines), delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except csv.Error as error:
            raise ImportRejected(_header_error(str(error), lines.count)) from None
        while line := text.readline(SAMPLE_BYTES):
            if line.strip():
                return delimiter, header, line
    except UnicodeDecodeError:
        # detect_encoding decoded the whole file: it changed since.
        raise ImportRejected("The file changed while it was read: upload it again.") from None
    raise ImportRejected("The file has a header row but no rows below it.")


def _blank_start(lines: _HeaderLines) -> str:
    """Why a file whose first line is blank is refused: it may be a web page further down."""
    for line in lines:
        if line.strip():
            _refuse_markup(line, lines.count)
            break
    return "The first line is empty: the file must start with a header row."


def _refuse_markup(line: str, number: int) -> None:
    if _MARKUP.match(line.lstrip("\ufeff \t")):
        shown = line.strip()[:40]
        kind = "an XML document" if shown[:5].lower() == "<?xml" else "a web page (HTML)"
        raise ImportRejected(
            f"Line {number} starts with “{shown}”: this is {kind}, not a CSV file. "
            "Export or save the data as CSV and upload that."
        )


def _header_error(message: str, lines_read: int) -> str:
    if "unexpected end of data" in message:
        return (
            f"A quote in the header (line 1) is never closed: everything from there to the end of "
            f"the file (line {lines_read}) reads as one column name. Close the quote or remove it."
        )
    if "field larger than field limit" in message:
        if lines_read > 1:
            return (
                f"A quote in the header (line 1) is not closed by line {lines_read}, where the "
                f"column name it opens passes {MAX_CELL_CHARS} characters. Close the quote or remove it."
            )
        return f"A column name in the header (line 1) is longer than {MAX_CELL_CHARS} characters."
    return f"The header row (line 1) is not valid CSV: {message}."


# --- the rows ------------------------------------------------------------------------------


def read_rows(stream: BinaryIO, file_format: FileFormat) -> Iterator[Row]:
    """Every data row after the header, numbered from 1; blank lines are not rows. A row the
    csv module cannot parse comes back with its error instead of raising."""
    text = open_text(stream, file_format.encoding)
    try:
        reader = csv.reader(text, delimiter=file_format.delimiter, strict=True)
        number = 0
        header_read = False
        while True:
            start_line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                if not header_read:
                    # ``sniff`` parsed this header with the same reader: the file changed since.
                    raise ImportRejected(f"The header row is not valid CSV any more ({error}).") from None
                number += 1
                yield Row(number, [], _parse_error(str(error), start_line, reader.line_num))
                continue
            except UnicodeDecodeError:
                number += 1
                yield Row(
                    number, [], f"Line {start_line} is not valid {file_format.encoding}; reading stopped."
                )
                return
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if not header_read:
                header_read = True
                continue
            number += 1
            yield Row(number, cells)
    finally:
        text.detach()


def _parse_error(message: str, start_line: int, end_line: int) -> str:
    if "field larger than field limit" in message:
        if end_line > start_line:  # a cell that spans lines: a quote left open swallowed them
            return (
                f"A quote opened on line {start_line} is not closed by line {end_line}, where its cell "
                f"passes {MAX_CELL_CHARS} characters: lines {start_line} to {end_line} were not read."
            )
        return f"A cell on line {start_line} is longer than {MAX_CELL_CHARS} characters."
    if "unexpected end of data" in message:
        return (
            f"A quote opened on line {start_line} is never closed: "
            f"lines {start_line} to {end_line} were not read."
        )
    return f"Line {start_line} is not valid CSV ({message})."
