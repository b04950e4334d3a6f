"""The range an insights page shows, as its URL gives it: ``?preset=30`` or
``?from=YYYY-MM-DD&to=YYYY-MM-DD``, in UTC days, both ends included.

A range that does not parse, runs backwards or is longer than ``ranges.MAX_DAYS`` is an
error the page shows in words; nothing is read or asked for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.http import QueryDict
from django.utils.http import urlencode

from insights.ranges import MAX_DAYS, RangeRefused, check_range

# The presets, in the order the page offers them, with how an operator reads them.
PRESETS: dict[str, str] = {"7": "7 days", "30": "30 days", "90": "90 days", "month": "This month"}
DEFAULT_PRESET = "30"
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class PageRange:
    """A range that can be shown: its days, and the preset that made it ("" for a custom one)."""

    start: date
    end: date
    preset: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def query(self) -> dict[str, str]:
        """The URL parameters that give this range again (the preset, so a shared link moves
        with the days; else the dates)."""
        if self.preset:
            return {"preset": self.preset}
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def querystring(self, **more: str) -> str:
        return urlencode({**self.query(), **more})


@dataclass(frozen=True, slots=True)
class RangeChoice:
    """What the URL asked for: the range, or the errors that keep it from being shown, and
    the values to show in the form again."""

    range: PageRange | None
    errors: tuple[str, ...]
    preset: str
    start_text: str
    end_text: str


def _day(text: str) -> date | None:
    """A date written as YYYY-MM-DD, and only so (not the other ISO forms Python reads)."""
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def preset_range(preset: str, *, today: date) -> PageRange:
    """The range a preset names, ending today: the last 7, 30 or 90 days, or this month so far."""
    if preset == "month":
        return PageRange(today.replace(day=1), today, preset)
    return PageRange(today - timedelta(days=int(preset) - 1), today, preset)


def choose_range(params: QueryDict | dict[str, str], *, today: date) -> RangeChoice:
    """The range ``params`` ask for, or why it cannot be shown. Dates win over a preset; no
    parameter at all is the default preset."""
    start_text = (params.get("from") or "").strip()
    end_text = (params.get("to") or "").strip()
    preset = (params.get("preset") or "").strip()
    if not start_text and not end_text:
        preset = preset or DEFAULT_PRESET
        if preset not in PRESETS:
            choices = ", ".join(PRESETS)
            return RangeChoice(None, (f"“{preset[:20]}” is not a preset; choose {choices}.",), "", "", "")
        chosen = preset_range(preset, today=today)
        return RangeChoice(chosen, (), preset, chosen.start.isoformat(), chosen.end.isoformat())
    errors = []
    for name, text in (("from", start_text), ("to", end_text)):
        if not text:
            errors.append(f"Give the “{name}” date too, as YYYY-MM-DD.")
        elif _day(text) is None:
            errors.append(f"“{text[:20]}” is not a date: write it as YYYY-MM-DD.")
    start, end = _day(start_text), _day(end_text)
    if errors or start is None or end is None:
        return RangeChoice(None, tuple(errors), "", start_text[:20], end_text[:20])
    try:
        check_range(start, end)
    except RangeRefused as exc:
        message = str(exc)
        if start > end:
            message = f"The range starts on {start}, after it ends on {end}."
        elif (end - start).days + 1 > MAX_DAYS:
            message = (
                f"The range is {(end - start).days + 1} days long; at most {MAX_DAYS} are shown at once."
            )
        return RangeChoice(None, (message,), "", start_text, end_text)
    return RangeChoice(PageRange(start, end, ""), (), "", start_text, end_text)
