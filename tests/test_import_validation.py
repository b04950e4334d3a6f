"""Row validation: the admin's rules, compiled once; the cheap email check never disagrees."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from chatusers.imports.mapping import propose_mapping
from chatusers.imports.reading import MAX_CELL_CHARS, FileFormat, read_rows
from chatusers.imports.validation import ParsedRow, RowValidator, _email, unquoted

EMAILS = [
    "ada@example.com",
    "Ada.Lovelace+news@Example.CO.uk",
    "a_b-c@sub.example.io",
    "ada@localhost",
    "ada@[127.0.0.1]",
    '"quoted"@example.com',
    "ada@exa_mple.com",
    "ada..b@example.com",
    ".ada@example.com",
    "ada@-example.com",
    "ada@example.c",
    "ada@example.123",
    "josé@exämple.com",
    "ada@example.com\n",
    "a" * 65 + "@example.com",
]


@pytest.mark.parametrize("address", EMAILS)
def test_the_email_check_agrees_with_djangos_validate_email(address: str) -> None:
    try:
        validate_email(address)
        expected = True
    except ValidationError:
        expected = False

    assert (_email(address)[1] == "") is expected


def test_a_row_is_normalised_and_empty_cells_give_no_value() -> None:
    header = ["Name", "E-mail", "Language", "Channel", "Tags", "var:plan", "Notes"]
    validator = RowValidator(header, propose_mapping(header))

    row = validator.parse(7, [" Ada ", "ada@example.com", "IT", "WhatsApp", "vip| news |vip", "", "x"])

    assert isinstance(row, ParsedRow)
    assert (row.number, row.fields, row.tags, row.variables) == (
        7,
        {"name": "Ada", "email": "ada@example.com", "language": "it", "channel": "whatsapp"},
        ["vip", "news"],
        {},
    )


def test_every_bad_column_of_a_row_is_named() -> None:
    header = ["email", "phone", "language"]
    validator = RowValidator(header, propose_mapping(header))

    reason = validator.parse(1, ["nope", "123", "xx"])

    assert reason == (
        "email: “nope” is not a valid email address. "
        "phone: “123” is not in E.164 form (a + and 2 to 15 digits, e.g. +393331234567). "
        "language: “xx” is not an ISO 639-1 code (two letters, e.g. it, en)."
    )


def test_only_the_quote_our_export_adds_is_removed() -> None:
    assert [unquoted(t) for t in ("'=1+1", "'+39", "'@x", "'-2", "'plain", "'", "=1+1")] == [
        "=1+1",
        "+39",
        "@x",
        "-2",
        "'plain",
        "'",
        "=1+1",
    ]


def test_a_reader_that_ends_does_not_loosen_the_cell_limit_of_one_still_reading() -> None:
    # The import counts a file's rows in a thread beside the one reading it: two readers
    # at once, the first to end before the second meets a long cell.
    csv_format = FileFormat(encoding="utf-8", encoding_note="", delimiter=",", header=["name"])
    long_cell = "x" * (MAX_CELL_CHARS + 1000)
    counting = read_rows(io.BytesIO(b"name\nAda\n"), csv_format)
    importing = read_rows(io.BytesIO(f"name\nAda\n{long_cell}\nBob\n".encode()), csv_format)

    next(counting)
    assert next(importing).cells == ["Ada"]
    assert list(counting) == []  # the count ends
    rows = list(importing)

    assert [(row.number, row.cells, bool(row.error)) for row in rows] == [(2, [], True), (3, ["Bob"], False)]
    assert "longer than 65536 characters" in rows[0].error
