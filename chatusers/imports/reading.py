"""Reading an uploaded CSV: its encoding, its delimiter, its header, and its rows one at a time.

Nothing here holds the whole file: detection reads a sample (and, for UTF-8, decodes the
rest a block at a time to be sure), and ``read_rows`` yields rows as it parses them.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

SAMPLE_BYTES = 64 * 1024
BLOCK_BYTES = 1024 * 1024
# A cell longer than this is an error of its row, not a reason to hold a huge string.
MAX_CELL_CHARS = 64 * 1024
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
LATIN1_NOTE = "not UTF-8: read as Latin-1 (ISO-8859-1)"


class ImportRejected(Exception):
    """A file that cannot be imported at all; the message is for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


def _is_binary(sample: bytes) -> bool:
    if not sample:
        return False
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13))
    return controls / len(sample) > 0.05


def _utf16_without_bom(sample: bytes) -> str:
    """``utf-16-le`` / ``utf-16-be`` when the sample looks like one (ASCII text with every
    other byte zero), else empty."""
    if len(sample) < 4:
        return ""
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return ""


def _is_utf8(stream: BinaryIO) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    stream.seek(0)
    try:
        while block := stream.read(BLOCK_BYTES):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    return True


def detect_encoding(stream: BinaryIO) -> tuple[str, str]:
    """The codec to read ``stream`` with and a note for the operator (empty when plain UTF-8)."""
    stream.seek(0)
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(0)
    if not sample.strip():
        raise ImportRejected("The file is empty.")
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise ImportRejected("The file is UTF-32, which the import does not read: save it as UTF-8.")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 with a byte order mark"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16"
    bare_utf16 = _utf16_without_bom(sample)
    if bare_utf16:
        return bare_utf16, "UTF-16 without a byte order mark"
    if _is_binary(sample):
        raise ImportRejected("This is not a text file (it holds binary data): upload a CSV file.")
    if _is_utf8(stream):
        return "utf-8", ""
    text = sample.decode("latin-1")
    # Bytes 0x80-0x9f are control characters in Latin-1: a text full of them is in some
    # other encoding, and reading it as Latin-1 would import garbage.
    c1 = sum(1 for char in text if "\x80" <= char <= "\x9f")
    high = sum(1 for char in text if char >= "\x80")
    if high and c1 / high > 0.3:
        raise ImportRejected(
            "The file's encoding is not one the import reads (UTF-8, UTF-16 or Latin-1): save it as UTF-8."
        )
    return "latin-1", LATIN1_NOTE


def _first_line(text: str) -> str:
    quoted = False
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            return text[:index]
    return text


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


def sniff(stream: BinaryIO) -> FileFormat:
    """Encoding, delimiter and header of ``stream``, or ImportRejected saying why it cannot be read."""
    encoding, note = detect_encoding(stream)
    text = open_text(stream, encoding)
    try:
        head = text.read(SAMPLE_BYTES)
    except UnicodeDecodeError:
        raise ImportRejected(f"The file is not valid {note or encoding}.") from None
    finally:
        text.detach()
        stream.seek(0)
    line = _first_line(head.lstrip("\ufeff"))
    if not line.strip():
        raise ImportRejected("The first line is empty: the file must start with a header row.")
    if "\x00" in line:
        raise ImportRejected("The header row holds NUL characters: this is not a CSV file.")
    if len(head) < SAMPLE_BYTES and not head.lstrip("\ufeff")[len(line) :].strip():
        raise ImportRejected("The file has a header row but no rows below it.")
    delimiter = detect_delimiter(line)
    try:
        header = next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise ImportRejected(f"The header row is not valid CSV: {error}.") from None
    header = [cell.strip() for cell in header]
    if len(header) == 1 and "|" in header[0]:
        raise ImportRejected(
            f"The header is one column, “{header[0][:60]}”: separate columns with commas, semicolons or tabs."
        )
    if not any(header):
        raise ImportRejected("The header row has no column names.")
    blank = [str(index + 1) for index, cell in enumerate(header) if not cell]
    if blank:
        raise ImportRejected(f"Column {', '.join(blank)} of the header has no name.")
    seen: set[str] = set()
    for cell in header:
        if cell.lower() in seen:
            raise ImportRejected(f"The header names the column “{cell}” twice.")
        seen.add(cell.lower())
    return FileFormat(encoding=encoding, encoding_note=note, delimiter=delimiter, header=header)


def read_rows(stream: BinaryIO, file_format: FileFormat) -> Iterator[Row]:
    """Every data row after the header, numbered from 1; blank lines are not rows. A row the
    csv module cannot parse comes back with its error instead of raising."""
    text = open_text(stream, file_format.encoding)
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_CELL_CHARS)
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
        csv.field_size_limit(limit)
        text.detach()


def _parse_error(message: str, start_line: int, end_line: int) -> str:
    if "field larger than field limit" in message:
        return f"A cell on line {start_line} is longer than {MAX_CELL_CHARS} characters."
    if "unexpected end of data" in message:
        return (
            f"A quote opened on line {start_line} is never closed: "
            f"lines {start_line} to {end_line} were not read."
        )
    return f"Line {start_line} is not valid CSV ({message})."
