"""Each chart of an insights page as one table: the page's table view, its CSV export and
the numbers the chart draws are all made from the same cells, so they cannot disagree.

A cell is text written once (counts as integers, money with two decimals, rates as percent
with two decimals, the four decimals Userbot gives); the chart reads its numbers back from
that text. A value that is missing or not valid is an empty cell, drawn as a gap, and the
row's note says why ("missing", or the problem).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any, Literal

from chatusers.export import neutralised

Kind = Literal["count", "score", "money", "percent", "text"]
Value = int | Decimal | str | None
MISSING = "missing"
NUMERIC: frozenset[str] = frozenset({"count", "score", "money", "percent"})


@dataclass(frozen=True, slots=True)
class Column:
    """A column of figures; ``drawn`` ones are the chart's datasets (on axis ``y`` or ``y2``).
    ``split_by`` names a text column whose values each get a dataset of their own (revenue
    per currency: sums across currencies mean nothing)."""

    key: str
    label: str
    kind: Kind = "count"
    drawn: bool = False
    axis: str = "y"
    split_by: str = ""
    shape: str = ""  # drawn as a line or bar within a chart of the other kind
    tone: str = ""  # a colour by meaning (positive, neutral, negative) rather than by order


@dataclass(frozen=True, slots=True)
class Row:
    """A row: its label (a day, a week, a channel), its values in the columns' order, why
    its empty values are empty, when Userbot's answer was read, and where it leads."""

    label: str
    values: tuple[Value, ...]
    note: str = ""
    read_at: datetime | None = None
    link: str = ""


@dataclass(frozen=True)
class ChartTable:
    """One chart and its table. ``chart`` is ``line``, ``bar`` or "" (a table alone)."""

    key: str
    title: str
    chart: str
    label: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    read: str
    stacked: bool = False
    y2_bounds: tuple[int, int] | None = None

    def header(self) -> list[str]:
        return [self.label, *(column.label for column in self.columns), "Note", "Read at"]

    @cached_property
    def text_rows(self) -> list[list[str]]:
        """Every row's cells as the table and the CSV show them, written once for the table
        view, the chart and the CSV. Written column by column, so that how a column is
        written is decided once for it rather than once per cell."""
        if not self.rows:
            return []
        by_column = zip(*(row.values for row in self.rows), strict=True)
        figures = [
            column_text(values, column.kind) for values, column in zip(by_column, self.columns, strict=True)
        ]
        return [
            [row.label, *cells, row.note, read_text(row.read_at)]
            for row, *cells in zip(self.rows, *figures, strict=True)
        ]

    def csv_rows(self) -> list[list[str]]:
        """The header and rows, text cells made inert for a spreadsheet. Figures are written
        here from numbers, so a negative one (an NPS of -100) stays a number."""
        kinds = ["text", *(column.kind for column in self.columns), "text", "text"]
        rows = [[neutralised(cell) for cell in self.header()]]
        for cells in self.text_rows:
            rows.append(
                [
                    cell if kind in NUMERIC else neutralised(cell)
                    for cell, kind in zip(cells, kinds, strict=True)
                ]
            )
        return rows

    def chart_data(self) -> dict[str, Any]:
        """What the page's script draws: the labels, and per drawn column (or per value of
        its ``split_by`` column) the numbers read back from the table's cells, None for an
        empty cell."""
        text = self.text_rows
        index = {column.key: n + 1 for n, column in enumerate(self.columns)}
        datasets = []
        for column in self.columns:
            if not column.drawn:
                continue
            cells = [row[index[column.key]] for row in text]
            if not column.split_by:
                datasets.append(_dataset(column, column.label, cells, column.kind))
                continue
            splits = [row[index[column.split_by]] for row in text]
            for part in sorted({s for s in splits if s}) or [""]:
                part_cells = [
                    cell if split == part else "" for cell, split in zip(cells, splits, strict=True)
                ]
                label = f"{column.label} ({part})" if part else column.label
                datasets.append(_dataset(column, label, part_cells, column.kind))
        return {
            "key": self.key,
            "type": self.chart,
            "title": self.title,
            "labels": [row.label for row in self.rows],
            "links": [row.link for row in self.rows],
            "datasets": datasets,
            "stacked": self.stacked,
            "y2_bounds": self.y2_bounds,
            "percent": any(c.drawn and c.kind == "percent" for c in self.columns),
        }


def _dataset(column: Column, label: str, cells: list[str], kind: Kind) -> dict[str, Any]:
    return {
        "label": label,
        "axis": column.axis,
        "shape": column.shape,
        "tone": column.tone,
        "data": numbers_of(cells, kind),
    }


def column_text(values: Iterable[Value], kind: Kind) -> list[str]:
    """How each of a column's values is written in the table and the CSV; "" for a missing
    one. A figure comes out as digits, a sign and a point alone: nothing in it to escape."""
    if kind in ("count", "score"):
        return ["" if value is None else str(int(value)) for value in values]
    if kind == "money":
        return ["" if value is None else f"{Decimal(value):.2f}" for value in values]
    if kind == "percent":  # a rate of 0 to 1 with four decimals: a percent with two, exactly
        return ["" if value is None else f"{Decimal(value) * 100:.2f}" for value in values]
    return ["" if value is None else str(value) for value in values]


def numbers_of(cells: list[str], kind: Kind) -> list[int | float | None]:
    """The number each of a column's cells holds, as the chart draws it; None for an empty
    cell."""
    if kind in ("count", "score"):
        return [int(cell) if cell else None for cell in cells]
    return [float(cell) if cell else None for cell in cells]


@lru_cache(maxsize=256)  # a table's days are mostly read at one moment: written once
def read_text(moment: datetime | None) -> str:
    """When an answer was read, in UTC to the second (``2026-11-24T09:30:05Z``); "" if never."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_sentence(moments: list[datetime]) -> str:
    """When a table's answers were read, in words."""
    if not moments:
        return "Nothing read from Userbot for this range yet."
    first, last = min(moments), max(moments)
    if first == last:
        return f"Read from Userbot at {_shown(last)}."
    return f"Read from Userbot between {_shown(first)} and {_shown(last)}."


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
