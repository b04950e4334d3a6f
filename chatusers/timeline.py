"""A chat user's timeline: what happened to them, newest first, from every app that knows.

Each app registers a *source* at app ready, as the sync engine's kinds are registered:
chat users register their feedback, history, imports and sync conflicts
(``chatusers.timeline_sources``), live chat its chat actions (``livechat.timeline``). An app
above chat users, meetings say, adds its own the same way: a ``meetings/timeline.py``
holding the source and a ``register()``, which ``MeetingsConfig.ready`` calls::

    from chatusers.timeline import TimelineEntry, register_source

    def meeting_entries(chatuser, before, limit):
        rows = Meeting.objects.filter(chatuser=chatuser)
        if before is not None:
            rows = rows.filter(starts_at__lt=before)
        return [TimelineEntry(at=m.starts_at, kind="meeting", title=..., url=..., actor=...)
                for m in rows.order_by("-starts_at", "-pk")[:limit]]

    def register() -> None:
        register_source("meetings", meeting_entries)

A source returns the chat user's entries strictly before ``before`` (all of them when it is
None), newest first, at most ``limit``, in ONE query: a page then costs one query per
source whatever the chat user's history holds. Chat users never import the apps above them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.db import connection, transaction

if TYPE_CHECKING:
    from chatusers.models import ChatUser

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened: when, what kind, a one-line title, an optional detail and
    link, and who did it. Texts are plain (the page escapes them)."""

    at: datetime
    kind: str
    title: str
    detail: str = ""
    url: str = ""
    actor: str = ""


Source = Callable[["ChatUser", datetime | None, int], list[TimelineEntry]]

_SOURCES: dict[str, Source] = {}


def register_source(name: str, source: Source) -> None:
    """Add (or replace) the source called ``name``; ``name`` is what the page says when the
    source cannot be read."""
    _SOURCES[name] = source


def unregister_source(name: str) -> None:
    """Remove a source (tests put one in for a while)."""
    _SOURCES.pop(name, None)


def sources() -> dict[str, Source]:
    """The registered sources, by name, in the order they were registered."""
    return dict(_SOURCES)


@dataclass
class TimelinePage:
    """One page of a timeline: its entries, the cursor of the page before it in time (None
    at the start of the history), and the sources that could not be read."""

    entries: list[TimelineEntry]
    next_before: datetime | None = None
    failed: list[str] = field(default_factory=list)

    @property
    def next_cursor(self) -> str:
        return cursor_text(self.next_before) if self.next_before else ""


def timeline(chatuser: ChatUser, before: datetime | None = None, limit: int = PAGE_SIZE) -> TimelinePage:
    """The chat user's entries strictly before ``before``, newest first, at most ``limit``,
    merged from every source; a source that fails is logged and named in ``failed``."""
    merged: list[TimelineEntry] = []
    failed: list[str] = []
    for name, source in _SOURCES.items():
        try:
            merged.extend(_read(source, chatuser, before, limit + 1))
        except Exception:
            logger.exception("The timeline source %r failed for chat user %s", name, chatuser.pk)
            failed.append(name)
    merged.sort(key=lambda entry: entry.at, reverse=True)  # stable: sources keep their order
    if len(merged) <= limit:
        return TimelinePage(merged, None, failed)
    page = merged[:limit]
    # The next page starts strictly before the cursor, so a moment the page boundary cuts
    # through is left whole to the next page (unless the page holds nothing else).
    if merged[limit].at == page[-1].at:
        page = [entry for entry in page if entry.at != page[-1].at] or page
    return TimelinePage(page, page[-1].at, failed)


def _read(source: Source, chatuser: ChatUser, before: datetime | None, limit: int) -> list[TimelineEntry]:
    # Inside a transaction a failed query would break every query after it: a savepoint
    # keeps the failure to its source. Outside one there is nothing to protect.
    if connection.in_atomic_block:
        with transaction.atomic():
            return source(chatuser, before, limit)[:limit]
    return source(chatuser, before, limit)[:limit]


def cursor_text(moment: datetime) -> str:
    """A cursor as the page's link carries it: ISO 8601 in UTC, to the microsecond."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_cursor(text: str | None) -> datetime | None:
    """The moment of a cursor, or None (the newest page) when it is missing or not a moment."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
