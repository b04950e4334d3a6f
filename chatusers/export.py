"""Chat users as CSV in the columns ``chatusers.import`` reads (wire contract section 6).

``id`` is the Userbot id (empty for a chat user not on Userbot yet), so an exported file
imports back onto the same chat users. Cells a spreadsheet would run as a formula (those
beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) get a leading ``'``,
except a valid E.164 phone: its ``+`` is part of the number, it can hold nothing but digits
after it, and quoting it would make the file fail the import's phone check.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet

from backoffice.audit import record_export
from chatusers.models import ChatUser, Tag, Variable
from chatusers.validators import phone_validator

COLUMNS = ("id", "client_ref", "name", "surname", "email", "phone", "channel", "language", "tags")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000


def neutralised(text: str, *, column: str = "") -> str:
    """``text`` made inert for a spreadsheet, as the module docstring says."""
    if column == "phone" and _is_phone(text):
        return text
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _is_phone(text: str) -> bool:
    try:
        phone_validator(text)
    except ValidationError:
        return False
    return True


def variable_names(chatusers: QuerySet[ChatUser]) -> list[str]:
    """Every variable name the chat users hold, sorted: one ``var:<name>`` column each."""
    names = Variable.objects.filter(chatuser__in=chatusers.values("pk")).values_list("name", flat=True)
    return sorted(set(names))


def csv_rows(chatusers: QuerySet[ChatUser]) -> Iterator[list[str]]:
    """The header, then one row per chat user in id order, read a chunk at a time."""
    names = variable_names(chatusers)
    header = [*COLUMNS, *(f"var:{name}" for name in names)]
    yield [neutralised(cell) for cell in header]
    ordered = (
        chatusers.order_by("pk")
        .select_related("sync")
        .prefetch_related(None)
        .prefetch_related(
            Prefetch("tags", queryset=Tag.objects.only("id", "name").order_by("name")),
            Prefetch("variables", queryset=Variable.objects.only("id", "chatuser_id", "name", "value")),
        )
    )
    last_pk = 0
    while True:
        chunk = list(ordered.filter(pk__gt=last_pk)[:CHUNK_SIZE])
        if not chunk:
            return
        for chatuser in chunk:
            values = {v.name: v.value for v in chatuser.variables.all()}
            cells = {
                "id": chatuser.remote_id or "",
                "client_ref": chatuser.client_ref,
                "name": chatuser.name,
                "surname": chatuser.surname,
                "email": chatuser.email or "",
                "phone": chatuser.phone or "",
                "channel": chatuser.channel,
                "language": chatuser.language,
                "tags": "|".join(tag.name for tag in chatuser.tags.all()),
            }
            row = [neutralised(cells[column], column=column) for column in COLUMNS]
            row += [neutralised(values.get(name, "")) for name in names]
            yield row
        last_pk = chunk[-1].pk


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(chatusers: QuerySet[ChatUser]) -> Iterator[str]:
    """The CSV text, a line at a time, for a streamed response."""
    writer = csv.writer(_Echo())
    for row in csv_rows(chatusers):
        yield writer.writerow(row)


def chatusers_export(
    *, chatusers: QuerySet[ChatUser], actor: AbstractBaseUser, scope: str, count: int | None = None
) -> Iterator[str]:
    """The chat users as CSV lines, recorded in the history (names, emails and phones leave
    with them) before the first line leaves."""
    if count is None:  # the caller's, when it counted them already
        count = chatusers.count()
    record_export(actor=actor, model=ChatUser, count=count, noun="chat user", scope=scope)
    return csv_lines(chatusers)
