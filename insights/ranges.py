"""Ranges of days as insights reads and draws them: UTC dates, both ends included."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

# A year, leap day included: the longest range read or drawn at once.
MAX_DAYS = 366
# The longest range a backfill asks for at once.
CHUNK_DAYS = 31


class RangeRefused(ValueError):
    """A range that is not read or drawn: backwards, too long, or (for a read) in the future."""


def utc_today() -> date:
    """Today's date in UTC, the day Userbot's stats count in."""
    return timezone.now().astimezone(UTC).date()


def check_range(start: date, end: date, *, today: date | None = None) -> None:
    """Raise RangeRefused, saying why, unless ``start``..``end`` is a range that can be shown:
    ``start`` not after ``end`` and at most MAX_DAYS days. With ``today``, a range that ends
    after it is refused too (Userbot has nothing to say about days to come)."""
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise RangeRefused(f"{name} must be a date, not {type(value).__name__}")
    if start > end:
        raise RangeRefused(f"the range starts ({start}) after it ends ({end})")
    length = (end - start).days + 1
    if length > MAX_DAYS:
        raise RangeRefused(f"the range is {length} days long; at most {MAX_DAYS} are read at once")
    if today is not None and end > today:
        raise RangeRefused(f"the range ends on {end}, after today ({today} UTC)")


def days_of(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, in order."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def runs(days: Iterable[date], *, longest: int = CHUNK_DAYS) -> list[tuple[date, date]]:
    """The days as ranges of consecutive days, oldest first, none longer than ``longest``."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges:
            first, last = ranges[-1]
            if day == last + timedelta(days=1) and (day - first).days < longest:
                ranges[-1] = (first, day)
                continue
        ranges.append((day, day))
    return ranges
