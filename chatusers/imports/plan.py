"""What one chunk of an import will write, decided before anything is written: the run's
options (``Options``), a chunk's plan (``Plan``) and what it counts (``ChunkResult``).

Both the deciding (``upsert``) and the writers (``writer``, ``postgres_writer``) work on
these, so they live apart from either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

FIELDS = ("name", "surname", "email", "phone", "channel", "language")
CREATE_COLUMNS = ("client_ref", *FIELDS)


@dataclass(frozen=True)
class Options:
    bot_id: int
    job_id: int
    mode: str
    match_key: str
    overwrite: bool
    extra_tags: tuple[str, ...]
    dry_run: bool
    # How many tags the bot lacks one import may create; a row naming one more is rejected.
    max_new_tags: int | None = None
    # The bot had no chat user when the run began (see ``Upserter.apply``).
    fresh: bool = False


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, list[str]]] = field(default_factory=list)


@dataclass
class Existing:
    id: int
    remote_id: str | None
    client_ref: str
    values: dict[str, Any]


@dataclass(slots=True)
class Create:
    """A chat user to create: the row's number and cells (to report it, should it lose a
    key), its column values (``CREATE_COLUMNS``), tag names (lower case) and variables.
    Small on purpose: a few planned chunks wait for the database at a time."""

    number: int
    cells: list[str]
    values: tuple[Any, ...]
    tag_names: tuple[str, ...]
    variables: dict[str, str]


@dataclass
class Plan:
    """What the chunk will write, decided before anything is written."""

    creates: list[Create] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (id, fields it changes)
    tags_added: list[tuple[int, str]] = field(default_factory=list)
    tags_removed: list[tuple[int, str]] = field(default_factory=list)
    variables_set: list[tuple[int, str, str]] = field(default_factory=list)
    # Each changed chat user's before-image as the JSON its undo row keeps, small while it waits.
    changed_before: dict[int, str] = field(default_factory=dict)
    # It names a tag the bot lacks: the writer creates it, so the chunk must commit before
    # a later chunk can link to it.
    creates_tags: bool = False

    def touched(self) -> set[int]:
        """The existing chat users this chunk changes."""
        return {pk for pk, _ in self.updates}


class InFlight(Protocol):
    """Chunks decided but not yet committed, as ``Upserter.plan`` sees them."""

    def touched(self) -> set[int]: ...

    def settle(self) -> None: ...
