"""The encoding of an uploaded CSV, decided on the whole file a block at a time.

A byte order mark names the encoding (UTF-8 or UTF-16), and the whole file must then
decode with it. Without one, a file that decodes as UTF-8 from end to end is UTF-8. A file
with bytes that are not UTF-8 is read as Latin-1 (with a note) only when no part of it is
UTF-8 beyond ASCII; one that mixes both is refused with the line and byte offset of its
first bad byte, since reading it either way would garble some of its names.
"""

from __future__ import annotations

import codecs
from typing import BinaryIO

SAMPLE_BYTES = 64 * 1024
BLOCK_BYTES = 1024 * 1024
LATIN1_NOTE = "not UTF-8: read as Latin-1 (ISO-8859-1)"
_ASCII_BYTES = bytes(range(0x80))
_NOT_C1_BYTES = bytes(range(0xA0, 0x100))


class ImportRejected(Exception):
    """A file that cannot be imported at all; the message is for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


def _scan_utf8(stream: BinaryIO, start: int) -> tuple[int, bool]:
    """The offset of the first byte from ``start`` on that is not UTF-8 (-1: none), and
    whether some text beyond ASCII decoded as UTF-8 (when there is such a byte).

    A valid file costs one strict decoding pass, as fast as decoding gets. Past a bad byte,
    the rest is decoded with ``surrogateescape``, which turns each bad byte into one
    character: a block that decodes to fewer characters than it has bytes holds a valid
    multibyte sequence, found without looking at a single character from Python."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    stream.seek(start)
    fed, bad, non_ascii = start, -1, False
    try:
        while True:
            block = stream.read(BLOCK_BYTES)
            pending = decoder.getstate()[0]
            data_starts_at = fed - len(pending)
            fed += len(block)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                bad = data_starts_at + error.start
                valid = (pending + block)[: error.start]
                non_ascii = non_ascii or len(valid.decode("utf-8")) < len(valid)
                break
            non_ascii = non_ascii or not text.isascii()
            if not block:
                return -1, non_ascii
        if non_ascii:
            return bad, True
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        stream.seek(bad)
        while not non_ascii:
            block = stream.read(BLOCK_BYTES)
            pending = decoder.getstate()[0]
            text = decoder.decode(block, final=not block)
            non_ascii = len(text) < len(pending) + len(block) - len(decoder.getstate()[0])
            if not block:
                break
        return bad, non_ascii
    finally:
        stream.seek(0)


def _scan_strict(stream: BinaryIO, codec: str, start: int) -> int:
    """The offset of the first byte from ``start`` on that ``codec`` cannot decode (-1: none)."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    stream.seek(start)
    fed = start
    try:
        while True:
            block = stream.read(BLOCK_BYTES)
            data_starts_at = fed - len(decoder.getstate()[0])
            fed += len(block)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                return data_starts_at + error.start
            if not block:
                return -1
    finally:
        stream.seek(0)


def _line_at(stream: BinaryIO, codec: str, start: int, offset: int) -> int:
    """The line (from 1, ending at CR, LF or CRLF as the csv reader counts them) that holds
    the byte at ``offset``; the bytes before it decode with ``codec``."""
    decoder = codecs.getincrementaldecoder(codec)("replace")
    stream.seek(start)
    left = offset - start
    line, after_cr = 1, False
    while left > 0:
        block = stream.read(min(BLOCK_BYTES, left))
        if not block:
            break
        left -= len(block)
        text = decoder.decode(block)
        if not text:
            continue
        line += text.count("\n") + text.count("\r") - text.count("\r\n")
        if after_cr and text[0] == "\n":
            line -= 1
        after_cr = text[-1] == "\r"
    stream.seek(0)
    return line


def _bad_byte(
    stream: BinaryIO, codec: str, start: int, offset: int, encoding_name: str, why: str
) -> ImportRejected:
    line = _line_at(stream, codec, start, offset)
    stream.seek(offset)
    byte = stream.read(1)
    stream.seek(0)
    return ImportRejected(
        f"The file is {encoding_name} ({why}) but line {line} is not: the byte 0x{byte.hex().upper()} "
        f"at byte offset {offset} is not valid {encoding_name}. Correct that line, or save the "
        f"whole file as {encoding_name}, and upload it again."
    )


def detect_encoding(stream: BinaryIO) -> tuple[str, str]:
    """The codec to read ``stream`` with and a note for the operator (empty when plain UTF-8),
    decided on the whole file (see the module's docstring); ImportRejected when none fits."""
    stream.seek(0)
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(0)
    if not sample.strip():
        raise ImportRejected("The file is empty.")
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise ImportRejected("The file is UTF-32, which the import does not read: save it as UTF-8.")
    if sample.startswith(codecs.BOM_UTF8):
        bad, _ = _scan_utf8(stream, len(codecs.BOM_UTF8))
        if bad >= 0:
            raise _bad_byte(
                stream, "utf-8", len(codecs.BOM_UTF8), bad, "UTF-8", "it starts with a UTF-8 byte order mark"
            )
        return "utf-8-sig", "UTF-8 with a byte order mark"
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if sample.startswith(bom):
            bad = _scan_strict(stream, codec, len(bom))
            if bad >= 0:
                raise _bad_byte(
                    stream, codec, len(bom), bad, "UTF-16", "it starts with a UTF-16 byte order mark"
                )
            return "utf-16", "UTF-16"
    bare_utf16 = _utf16_without_bom(sample)
    if bare_utf16:
        bad = _scan_strict(stream, bare_utf16, 0)
        if bad >= 0:
            raise _bad_byte(stream, bare_utf16, 0, bad, "UTF-16", "its first lines are")
        return bare_utf16, "UTF-16 without a byte order mark"
    if _is_binary(sample):
        raise ImportRejected("This is not a text file (it holds binary data): upload a CSV file.")
    bad, non_ascii = _scan_utf8(stream, 0)
    if bad < 0:
        return "utf-8", ""
    if non_ascii:
        raise _bad_byte(stream, "utf-8", 0, bad, "UTF-8", "other lines hold UTF-8 characters")
    if _mostly_c1(stream):
        raise ImportRejected(
            "The file's encoding is not one the import reads (UTF-8, UTF-16 or Latin-1): save it as UTF-8."
        )
    return "latin-1", LATIN1_NOTE


def _mostly_c1(stream: BinaryIO) -> bool:
    """Whether the bytes beyond ASCII are mostly 0x80-0x9f, control characters in Latin-1:
    a text full of them is in some other encoding, and reading it as Latin-1 would import
    garbage."""
    high = c1 = 0
    stream.seek(0)
    while block := stream.read(BLOCK_BYTES):
        beyond_ascii = block.translate(None, _ASCII_BYTES)
        high += len(beyond_ascii)
        c1 += len(beyond_ascii.translate(None, _NOT_C1_BYTES))
    stream.seek(0)
    return bool(high) and c1 / high > 0.3


# --- the header ----------------------------------------------------------------------------
