"""Leads as CSV: the list's filter and search applied, every cell made inert for a
spreadsheet (``chatusers.export.neutralised``), and the export recorded in the history."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from backoffice.audit import record_export
from chatusers.export import neutralised
from leads.documents import tags_of, wire_time
from leads.models import Lead

COLUMNS = ("id", "company", "domain", "country", "visits", "last_visit_at", "tags", "gone_at")
CHUNK_SIZE = 2000


class _Line:
    def write(self, value: str) -> str:
        return value


def csv_rows(leads: QuerySet[Lead]) -> Iterator[list[str]]:
    """The header, then one row per lead in the list's order, read a chunk at a time."""
    yield list(COLUMNS)
    chunk: list[Lead] = []
    for lead in leads.iterator(chunk_size=CHUNK_SIZE):
        chunk.append(lead)
        if len(chunk) == CHUNK_SIZE:
            yield from _rows(chunk)
            chunk = []
    yield from _rows(chunk)


def _rows(leads: list[Lead]) -> Iterator[list[str]]:
    tags = tags_of(leads) if leads else {}
    for lead in leads:
        cells = [
            lead.remote_id or "",
            lead.company,
            lead.domain,
            lead.country,
            str(lead.visits),
            wire_time(lead.last_visit_at) or "",
            ", ".join(tags.get(lead.pk, [])),
            wire_time(lead.gone_at) or "",
        ]
        yield [neutralised(cell) for cell in cells]


def leads_export(*, leads: QuerySet[Lead], actor: AbstractBaseUser, scope: str) -> Iterator[str]:
    """The leads as CSV lines; who exported how many, and which (``scope``), is recorded
    in the admin's LogEntry before the first line leaves (key people are not exported)."""
    record_export(actor=actor, model=Lead, count=leads.count(), noun="lead", scope=scope)
    writer = csv.writer(_Line())
    return (writer.writerow(row) for row in csv_rows(leads))
