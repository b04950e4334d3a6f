"""A corpus of broken files, each with the exact message an operator gets.

Small files live in ``tests/import_corpus/``; huge or binary ones are made here. A file that
cannot be read at all is refused when it is uploaded; any other file runs, and then a dry
run writes nothing while a real run applies the valid rows and reports every invalid one
by its row number (1 = the first row after the header).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile

from backoffice.sync.models import OutboxEntry
from chatusers.import_models import ImportChange, ImportJob
from chatusers.imports.encoding import BLOCK_BYTES, LATIN1_NOTE, ImportRejected, detect_encoding
from chatusers.imports.reading import size_text
from chatusers.imports.run import import_job_run
from chatusers.imports.services import import_job_configure, import_job_create
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).parent / "import_corpus"
SAMPLE = "name,email\nJosé,jose@example.com\nBob,bob@example.com\n"


def _binary() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40


def _big_cell() -> bytes:
    return b"name,email\nAda," + b"x" * (50 * 1024 * 1024) + b"\nBob,bob@example.com\n"


def _long_header() -> bytes:
    """A header of about 70 KiB, past the 64 KiB an early reading took of it: the name and
    email columns, notes with long names, and "email_work" where 64 KiB would cut it to
    "email", a second email column that is not there."""
    head = "name,email,"
    notes = [f"note {n:03d} {'x' * 150}" for n in range(400)]
    head += ",".join(notes) + ","
    filler = 65536 - len(head) - len("email") - 1
    head += "f" * filler + ","
    assert len(head) + len("email") == 65536
    columns = head + "email_work,notes after the cut"
    empty = "," * (columns.count(","))
    return f"{columns}\nAda,ada@example.com{empty[1:]}\nBob,bob@example.com{empty[1:]}\n".encode()


def _header_over_the_limit() -> bytes:
    columns = ",".join(f"c{n:03d}{'x' * 2300}" for n in range(450))
    return f"{columns}\n{',' * 449}\n".encode()


UTF8_ROWS = "name,email\n" + "".join(f"José {n},jose{n}@example.com\n" for n in range(2000))
UTF16_SURROGATE = "\ud800".encode("utf-16-le", "surrogatepass")
ONE_LINE_PAGE = b'<!doctype html><html lang="en"><head><title>Contacts</title></head><body>Ada</body></html>'


GENERATED: dict[str, Callable[[], bytes]] = {
    "header_over_64k.csv": _long_header,
    "header_cell_over_64k.csv": lambda: b"name,email," + b"n" * 70_000 + b"\nAda,ada@example.com,x\n",
    "header_over_the_limit.csv": _header_over_the_limit,
    "too_many_columns.csv": lambda: (
        ",".join(f"c{n}" for n in range(5001)) + "\n" + "," * 5000 + "\n"
    ).encode(),
    "utf8_one_bad_byte_late.csv": lambda: UTF8_ROWS.encode() + b"Ren\xe9,rene@example.com\n",
    "utf8_bom_bad_byte.csv": lambda: codecs.BOM_UTF8 + SAMPLE.encode() + b"Ren\xe9,rene@example.com\n",
    "utf16_lone_surrogate.csv": lambda: (
        codecs.BOM_UTF16_LE
        + (SAMPLE + "Ren").encode("utf-16-le")
        + UTF16_SURROGATE
        + ",x\n".encode("utf-16-le")
    ),
    "latin1_throughout.csv": lambda: UTF8_ROWS.encode("latin-1"),
    "web_page_one_line.csv": lambda: ONE_LINE_PAGE,
    "quote_left_open.csv": lambda: (
        b'name,email\n"Ada,ada@example.com\n'
        + "".join(f"Bob {n},bob{n}@example.com\n" for n in range(5000)).encode()
    ),
    "too_many_tags_in_cell.csv": lambda: (
        b"name,email,tags\nAda,ada@example.com,"
        + "|".join(f"t{n}" for n in range(10_000)).encode()
        + b"\nBob,bob@example.com,vip\n"
    ),
    "binary.png": _binary,
    "utf32.csv": lambda: codecs.BOM_UTF32_LE + SAMPLE.encode("utf-32-le"),
    "unknown_encoding.csv": lambda: b"name,email\n" + bytes(range(0x80, 0xA0)) * 20 + b",a@example.com\n",
    "nul_in_header.csv": lambda: (
        b"name,em\x00ail,phone,language,channel,surname,tags\nAda,a@example.com,,,,,\n"
    ),
    "utf16_bom.csv": lambda: SAMPLE.encode("utf-16"),
    "utf16le_no_bom.csv": lambda: SAMPLE.encode("utf-16-le"),
    "latin1.csv": lambda: SAMPLE.encode("latin-1"),
    "nul_in_cell.csv": lambda: b"name,email\nA\x00da,ada@example.com\nBob,bob@example.com\n",
    "big_cell.csv": _big_cell,
}

REFUSED = {
    "empty.csv": "The file is empty.",
    "blank_lines_only.csv": "The file is empty.",
    "header_only.csv": "The file has a header row but no rows below it.",
    "header_blank_column.csv": "Column 2 of the header has no name.",
    "header_repeated_column.csv": "The header names the column “Email” twice.",
    "pipe_delimited.csv": (
        "The header (line 1) is one column, “name|email”: the file separates its columns with pipes (|). "
        "Separate them with commas, semicolons or tabs."
    ),
    "colon_delimited.csv": (
        "The header (line 1) is one column, “name:email”: the file separates its columns with colons (:). "
        "Separate them with commas, semicolons or tabs."
    ),
    "unbalanced_quote_in_header.csv": (
        "A quote in the header (line 1) is never closed: everything from there to the end of the file "
        "(line 3) reads as one column name. Close the quote or remove it."
    ),
    "web_page.csv": (
        "Line 1 starts with “<!DOCTYPE html>”: this is a web page (HTML), not a CSV file. "
        "Export or save the data as CSV and upload that."
    ),
    "web_page_one_line.csv": (
        'Line 1 starts with “<!doctype html><html lang="en"><head><ti”: this is a web page (HTML), '
        "not a CSV file. Export or save the data as CSV and upload that."
    ),
    "header_cell_over_64k.csv": "A column name in the header (line 1) is longer than 65536 characters.",
    "header_over_the_limit.csv": (
        "The header row is longer than 1,000,000 characters, the most the import reads: the first row "
        "of the file must be a header of column names."
    ),
    "too_many_columns.csv": (
        "The header has 5001 columns; the import reads at most 500. "
        "Remove the columns you do not import and upload the file again."
    ),
    "utf8_one_bad_byte_late.csv": (
        "The file is UTF-8 (other lines hold UTF-8 characters) but line 2002 is not: the byte 0xE9 at "
        f"byte offset {len(UTF8_ROWS.encode()) + 3} is not valid UTF-8. Correct that line, or save the "
        "whole file as UTF-8, and upload it again."
    ),
    "utf8_bom_bad_byte.csv": (
        "The file is UTF-8 (it starts with a UTF-8 byte order mark) but line 4 is not: the byte 0xE9 at "
        f"byte offset {3 + len(SAMPLE.encode()) + 3} is not valid UTF-8. Correct that line, or save the "
        "whole file as UTF-8, and upload it again."
    ),
    "utf16_lone_surrogate.csv": (
        "The file is UTF-16 (it starts with a UTF-16 byte order mark) but line 4 is not: the byte 0x00 at "
        f"byte offset {2 + len((SAMPLE + 'Ren').encode('utf-16-le'))} is not valid UTF-16. Correct that "
        "line, or save the whole file as UTF-16, and upload it again."
    ),
    "binary.png": "This is not a text file (it holds binary data): upload a CSV file.",
    "utf32.csv": "The file is UTF-32, which the import does not read: save it as UTF-8.",
    "unknown_encoding.csv": (
        "The file's encoding is not one the import reads (UTF-8, UTF-16 or Latin-1): save it as UTF-8."
    ),
    "nul_in_header.csv": "The header row holds NUL characters: this is not a CSV file.",
}

# File -> (created, updated, unchanged, [(row, reason), ...]) of a run into an empty bot.
RUNS: dict[str, tuple[int, int, int, list[tuple[int, str]]]] = {
    "wrong_delimiter_for_content.csv": (1, 0, 0, [(1, "The row has 1 cell; the header has 2.")]),
    "ragged_rows.csv": (
        1,
        0,
        0,
        [(1, "The row has 3 cells; the header has 2."), (2, "The row has 1 cell; the header has 2.")],
    ),
    "unterminated_quote.csv": (
        1,
        0,
        0,
        [(2, "A quote opened on line 3 is never closed: lines 3 to 4 were not read.")],
    ),
    "stray_quote.csv": (1, 0, 0, [(1, "Line 2 is not valid CSV (',' expected after '\"').")]),
    "duplicate_keys.csv": (
        2,
        0,
        0,
        [
            (2, "Same email as row 1: a duplicate in the file."),
            (3, "Same phone as row 1: a duplicate in the file."),
        ],
    ),
    "invalid_emails.csv": (
        1,
        0,
        0,
        [
            (2, "email: “bob@” is not a valid email address."),
            (3, "email: “carl example.com” is not a valid email address."),
            (4, "email: “dora@@example.com” is not a valid email address."),
        ],
    ),
    "invalid_phones.csv": (
        1,
        0,
        0,
        [
            (2, "phone: “3331234567” is not in E.164 form (a + and 2 to 15 digits, e.g. +393331234567)."),
            (3, "phone: “+39 333 123” is not in E.164 form (a + and 2 to 15 digits, e.g. +393331234567)."),
            (4, "phone: “+0123” is not in E.164 form (a + and 2 to 15 digits, e.g. +393331234567)."),
        ],
    ),
    "invalid_languages.csv": (
        1,
        0,
        0,
        [
            (2, "language: “ita” is not an ISO 639-1 code (two letters, e.g. it, en)."),
            (3, "language: “xx” is not an ISO 639-1 code (two letters, e.g. it, en)."),
        ],
    ),
    "invalid_channels.csv": (
        1,
        0,
        0,
        [(2, "channel: “fax” is not one of api, instagram, messenger, telegram, webchat, whatsapp.")],
    ),
    "missing_match_key.csv": (1, 0, 0, [(1, "The row has no email to match on.")]),
    "too_long_name.csv": (1, 0, 0, [(1, "name: at most 200 characters (it has 201).")]),
    "too_long_tag.csv": (1, 0, 0, [(1, "tags: a tag name has at most 100 characters.")]),
    "crlf.csv": (2, 0, 0, []),
    "mixed_line_ends.csv": (3, 0, 0, []),
    "formula_injection.csv": (2, 0, 0, []),
    "semicolon.csv": (2, 0, 0, []),
    "tab.tsv": (2, 0, 0, []),
    "quoted_newlines.csv": (2, 0, 0, []),
    "blank_lines_between_rows.csv": (2, 0, 0, []),
    "utf8_bom.csv": (1, 0, 0, []),
    "utf16_bom.csv": (2, 0, 0, []),
    "utf16le_no_bom.csv": (2, 0, 0, []),
    "latin1.csv": (2, 0, 0, []),
    "nul_in_cell.csv": (1, 0, 0, [(1, "name: holds a NUL character.")]),
    "big_cell.csv": (1, 0, 0, [(1, "A cell on line 2 is longer than 65536 characters.")]),
    "header_over_64k.csv": (2, 0, 0, []),
    "quote_left_open.csv": (
        2664,
        0,
        0,
        [
            (
                1,
                "A quote opened on line 2 is not closed by line 2338, where its cell passes 65536 "
                "characters: lines 2 to 2338 were not read.",
            )
        ],
    ),
    "latin1_throughout.csv": (2000, 0, 0, []),
    "too_many_tags_in_cell.csv": (1, 0, 0, [(1, "tags: at most 100 tags in a cell (it has 10000).")]),
}


@pytest.fixture(autouse=True)
def media(tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def actor() -> Any:
    return get_user_model().objects.create_user("operator", password="x")


def _content(name: str) -> bytes:
    return GENERATED[name]() if name in GENERATED else (CORPUS / name).read_bytes()


def _tables() -> dict[str, int]:
    models = (ChatUser, ChatUserTag, Tag, Variable, OutboxEntry, ImportChange, LogEntry)
    return {model.__name__: model.objects.count() for model in models}


def _run(bot: Any, actor: Any, name: str, *, dry_run: bool) -> ImportJob:
    job = import_job_create(bot=bot, actor=actor, upload=SimpleUploadedFile(name, _content(name)))
    import_job_configure(
        job=job,
        mapping=job.mapping,
        mode="upsert",
        match_key="email",
        overwrite="overwrite",
        extra_tags=[],
        dry_run=dry_run,
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _rejected(job: ImportJob) -> list[tuple[int, str]]:
    with job.rejected_file.open("r") as handle:
        rows = list(csv.reader(io.StringIO(handle.read())))
    return [(int(row[0]), row[1]) for row in rows[1:]]


def test_the_corpus_has_at_least_thirty_broken_files() -> None:
    committed = {path.name for path in CORPUS.iterdir()}
    assert committed | set(GENERATED) == set(REFUSED) | set(RUNS)
    assert len(set(REFUSED) | set(RUNS)) >= 30


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_file_that_cannot_be_read_is_refused_with_a_clear_message(actor: Any, name: str) -> None:
    bot = BotFactory()
    before = _tables()

    with pytest.raises(ImportRejected) as refused:
        import_job_create(bot=bot, actor=actor, upload=SimpleUploadedFile(name, _content(name)))

    assert refused.value.message == REFUSED[name]
    assert _tables() == before
    assert ImportJob.objects.count() == 0


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_dry_run_of_a_broken_file_writes_nothing_and_counts_like_the_real_run(
    actor: Any, name: str
) -> None:
    bot = BotFactory()
    before = _tables()

    dry = _run(bot, actor, name, dry_run=True)

    created, updated, unchanged, rejected = RUNS[name]
    assert (dry.status, dry.created, dry.updated, dry.unchanged) == ("done", created, updated, unchanged)
    assert _rejected(dry) == rejected
    assert {**_tables(), "LogEntry": before["LogEntry"]} == before
    assert LogEntry.objects.count() == before["LogEntry"] + 1  # the job's own summary


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_real_run_applies_the_valid_rows_and_reports_every_invalid_one(actor: Any, name: str) -> None:
    bot = BotFactory()

    job = _run(bot, actor, name, dry_run=False)

    created, updated, unchanged, rejected = RUNS[name]
    assert (job.status, job.created, job.updated, job.unchanged, job.rejected) == (
        "done",
        created,
        updated,
        unchanged,
        len(rejected),
    )
    assert job.created + job.updated + job.unchanged + job.rejected == job.rows_done == job.rows_total
    assert _rejected(job) == rejected
    assert ChatUser.objects.filter(bot=bot).count() == created
    assert OutboxEntry.objects.count() == created


def test_formulas_are_stored_as_text_and_our_exports_quote_is_removed(actor: Any) -> None:
    bot = BotFactory()

    _run(bot, actor, "formula_injection.csv", dry_run=False)

    ada = ChatUser.objects.get(email="ada@example.com")
    bob = ChatUser.objects.get(email="bob@example.com")
    assert (ada.name, ada.surname, ada.variables.get().value) == (
        '=HYPERLINK("http://x")',
        "+1+1",
        "@SUM(A1)",
    )
    assert (bob.name, bob.surname, bob.variables.get().value) == ("=SUM(A1)", "-2", "@cmd")


def test_encodings_are_detected_and_a_latin1_fallback_says_so(actor: Any) -> None:
    bot = BotFactory()
    found = {}
    for name in (
        "utf8_bom.csv",
        "utf16_bom.csv",
        "utf16le_no_bom.csv",
        "latin1.csv",
        "semicolon.csv",
        "tab.tsv",
    ):
        job = import_job_create(bot=bot, actor=actor, upload=SimpleUploadedFile(name, _content(name)))
        found[name] = (job.encoding, job.encoding_note, job.delimiter, job.header[:2])

    assert found == {
        "utf8_bom.csv": ("utf-8-sig", "UTF-8 with a byte order mark", ",", ["name", "email"]),
        "utf16_bom.csv": ("utf-16", "UTF-16", ",", ["name", "email"]),
        "utf16le_no_bom.csv": ("utf-16-le", "UTF-16 without a byte order mark", ",", ["name", "email"]),
        "latin1.csv": ("latin-1", LATIN1_NOTE, ",", ["name", "email"]),
        "semicolon.csv": ("utf-8", "", ";", ["name", "email"]),
        "tab.tsv": ("utf-8", "", "\t", ["name", "email"]),
    }


def test_a_latin1_file_keeps_its_accents(actor: Any) -> None:
    bot = BotFactory()

    _run(bot, actor, "latin1.csv", dry_run=False)

    assert ChatUser.objects.get(email="jose@example.com").name == "José"


def test_quoted_cells_keep_their_commas_quotes_and_line_breaks(actor: Any) -> None:
    bot = BotFactory()

    _run(bot, actor, "quoted_newlines.csv", dry_run=False)

    ada = ChatUser.objects.get(email="ada@example.com")
    assert (ada.name, ada.variables.get().value) == ("Rossi, Ada", "Via Roma 1\nMilano")
    assert ChatUser.objects.get(email="bob@example.com").name == 'Bob "The Builder"'


def test_a_file_over_the_size_limit_is_refused(actor: Any, settings: Any) -> None:
    settings.CHATUSER_IMPORT_MAX_BYTES = 1_000_000
    bot = BotFactory()

    with pytest.raises(ImportRejected) as refused:
        import_job_create(
            bot=bot, actor=actor, upload=SimpleUploadedFile("big.csv", b"email\n" + b"a" * 2_000_000)
        )

    assert refused.value.message == "The file is 2 MB; the largest file the import takes is 1 MB."


def test_a_header_longer_than_64_kib_is_read_whole(actor: Any) -> None:
    content = _long_header()

    job = import_job_create(bot=BotFactory(), actor=actor, upload=SimpleUploadedFile("wide.csv", content))

    assert job.header == content.decode().splitlines()[0].split(",")
    assert job.header[-2:] == ["email_work", "notes after the cut"]
    assert (job.mapping["name"], job.mapping["email"], job.mapping["email_work"]) == ("name", "email", "skip")


def test_a_latin1_file_is_decided_on_the_whole_file_and_keeps_its_note(actor: Any) -> None:
    job = import_job_create(
        bot=BotFactory(), actor=actor, upload=SimpleUploadedFile("l.csv", _content("latin1_throughout.csv"))
    )

    assert (job.encoding, job.encoding_note) == ("latin-1", LATIN1_NOTE)


class _Reads(io.BytesIO):
    """A file that remembers the largest read asked of it."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest = max(self.largest, size if size is not None and size >= 0 else 1 << 62)
        return super().read(size)


def test_the_encoding_is_checked_on_the_whole_file_a_block_at_a_time() -> None:
    rows = "".join(f"Zoë {n},zoe{n}@example.com\n" for n in range(120_000)).encode()
    content = b"name,email\n" + rows + b"Ren\xe9,rene@example.com\n" + b"Ada,ada@example.com\n"
    stream = _Reads(content)

    with pytest.raises(ImportRejected) as refused:
        detect_encoding(stream)

    assert len(content) > 3 * BLOCK_BYTES
    assert stream.largest <= BLOCK_BYTES
    assert refused.value.message.startswith(
        f"The file is UTF-8 (other lines hold UTF-8 characters) but line 120002 is not: the byte 0xE9 at "
        f"byte offset {11 + len(rows) + 3} is not valid UTF-8."
    )


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (209_715_200, "The file is 209.7 MB; the largest file the import takes is 200 MB."),
        (
            200_000_001,
            "The file is 200,000,001 bytes; the largest file the import takes is 200,000,000 bytes (200 MB).",
        ),
    ],
)
def test_the_size_limit_is_200_mb_of_a_million_bytes_each(actor: Any, size: int, message: str) -> None:
    upload = UploadedFile(io.BytesIO(b"email\na@example.com\n"), name="big.csv", size=size)

    with pytest.raises(ImportRejected) as refused:
        import_job_create(bot=BotFactory(), actor=actor, upload=upload)

    assert refused.value.message == message
    assert ImportJob.objects.count() == 0


def test_the_readme_states_the_size_limit_as_the_upload_page_does(settings: Any) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `CHATUSER_IMPORT_MAX_BYTES`"))

    assert settings.CHATUSER_IMPORT_MAX_BYTES == 200_000_000
    assert f"`{settings.CHATUSER_IMPORT_MAX_BYTES}`" in row
    assert f"({size_text(settings.CHATUSER_IMPORT_MAX_BYTES)})" in row
    assert "1 MB = 1,000,000 bytes" in readme
