"""Applying validated rows to the database a chunk at a time, with set-based statements.

Per chunk: one query finds every existing chat user any row's keys name (email, phone,
client_ref, Userbot id), unless the bot had none when the run began; Python decides each
row's fate (create, update, unchanged, or rejected with a reason) and the after-state
(``Upserter.plan``); then a writer applies it (``Upserter.write``), maybe on a connection
of its own (see ``services._Writers``). On PostgreSQL the writer COPYs new chat users
straight into their tables, with ids drawn by the statement that also writes their undo
rows, and COPYs changes into temporary tables for one ``INSERT ... ON CONFLICT`` or
``UPDATE ... FROM`` per table; elsewhere it uses ``bulk_create`` / ``bulk_update``. Both
write the same rows: chat users, their tags and variables, and one ``ImportChange`` (with
the before-image of a changed one) for undo; and both mark each created or changed chat
user for Userbot (never an unchanged one) through the sync engine's one marking
statement, ``mark_changed_ids``, which wakes the relay once the chunk commits.

Keys repeated inside the file: the first row that carries an email, phone, client_ref or
Userbot id claims it, and a later row with the same key is rejected as a duplicate of that
row. So what a row does never depends on a later row, a dry run predicts the real run
exactly, and re-importing the same file finds every row unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Protocol

import orjson
import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.sync.models import SyncState, new_client_refs
from backoffice.sync.outbox import mark_changed_ids
from chatusers.import_models import ImportChange, ImportJob
from chatusers.imports.validation import ParsedRow
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable

CHUNK_ANALYZE_MIN = 5000
FIELDS = ("name", "surname", "email", "phone", "channel", "language")
CREATE_COLUMNS = ("client_ref", *FIELDS)
LOST_KEY = "Another chat user took this row's email or phone while the import ran."
MATCH_KINDS = {"email": "e", "phone": "p", "remote_id": "r"}
KEY_LABELS = {"e": "email", "p": "phone", "c": "client_ref", "r": "Userbot id"}


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
class _Existing:
    id: int
    remote_id: str | None
    client_ref: str
    values: dict[str, Any]


@dataclass(slots=True)
class _Create:
    """A chat user to create: the row's number and cells (to report it, should it lose a
    key), its column values (``CREATE_COLUMNS``), tag names (lower case) and variables.
    Small on purpose: a few planned chunks wait for the database at a time."""

    number: int
    cells: list[str]
    values: tuple[Any, ...]
    tag_names: tuple[str, ...]
    variables: dict[str, str]


@dataclass
class _Plan:
    """What the chunk will write, decided before anything is written."""

    creates: list[_Create] = field(default_factory=list)
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


def _keys(row: ParsedRow) -> list[str]:
    """The row's match keys, each its kind's letter (``KEY_LABELS``), a colon and its value."""
    if row.keys is not None:
        return row.keys
    fields = row.fields
    keys = []
    if email := fields.get("email"):
        keys.append(f"e:{email.lower()}")
    if phone := fields.get("phone"):
        keys.append(f"p:{phone}")
    if client_ref := fields.get("client_ref"):
        keys.append(f"c:{client_ref}")
    if remote_id := fields.get("remote_id"):
        keys.append(f"r:{remote_id}")
    row.keys = keys
    return keys


class SeenKeys:
    """The keys earlier rows of the file claimed, in a temporary table so memory stays flat
    however long the file is. It lives as long as the database session and rolls back with
    a chunk that fails.

    A Bloom filter in memory (4 MiB, two bits per key) answers "never claimed" for almost
    every key of a file without duplicates, so only the few keys it may have seen are looked
    up: the table stays the one exact answer. A chunk that rolls back leaves its bits set,
    which costs a lookup and never a wrong answer."""

    TABLE = "chatusers_import_seen_keys"
    FILTER_BITS = 1 << 25

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.filter = bytearray(self.FILTER_BITS // 8)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {self.TABLE} (key TEXT PRIMARY KEY, row_number BIGINT)")

    def maybe_claimed(self, keys: Iterable[str]) -> list[str]:
        """Those of ``keys`` an earlier row may have claimed (the others it did not)."""
        bits, mask, found = self.filter, self.FILTER_BITS - 1, []
        for key in keys:
            digest = hash(key)
            first, second = digest & mask, (digest >> 32) & mask
            if bits[first >> 3] & (1 << (first & 7)) and bits[second >> 3] & (1 << (second & 7)):
                found.append(key)
        return found

    def claimed(self, keys: Sequence[str]) -> dict[str, int]:
        """The row that claimed each of ``keys`` that was claimed (give it the keys
        ``maybe_claimed`` lets through: the others were not)."""
        if not keys:
            return {}
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(
                    f"SELECT s.key, s.row_number FROM unnest(%s::text[]) AS k(value)"  # noqa: S608
                    f" JOIN {self.TABLE} s ON s.key = k.value",
                    [keys],
                )
                return dict(cursor.fetchall())
            found: dict[str, int] = {}
            for start in range(0, len(keys), 900):
                part = keys[start : start + 900]
                marks = ",".join("%s" for _ in part)
                query = f"SELECT key, row_number FROM {self.TABLE} WHERE key IN ({marks})"  # noqa: S608
                cursor.execute(query, part)
                found.update(cursor.fetchall())
            return found

    def claim(self, pairs: Sequence[tuple[str, int]]) -> None:
        if not pairs:
            return
        bits, mask = self.filter, self.FILTER_BITS - 1
        for key, _ in pairs:
            digest = hash(key)
            first, second = digest & mask, (digest >> 32) & mask
            bits[first >> 3] |= 1 << (first & 7)
            bits[second >> 3] |= 1 << (second & 7)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {self.TABLE} (key, row_number) FROM STDIN") as copy:
                    for pair in pairs:
                        copy.write_row(pair)
            else:
                insert = f"INSERT INTO {self.TABLE} (key, row_number) VALUES (%s, %s)"  # noqa: S608
                cursor.executemany(insert, pairs)

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.TABLE}")


class Upserter:
    """Decides and applies the rows of one import, a chunk at a time."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.seen = SeenKeys()
        self.writer = self.new_writer()
        self.tag_ids: dict[str, int] = {}
        self.extra_tag_names = {name.lower() for name in options.extra_tags}
        self.client_refs: Iterator[str] = iter(())
        self.new_tag_names: dict[str, str] = {}
        # Tags this run creates (or, in a dry run, would), and those past the limit it refuses.
        self.new_tags_met = 0
        self.refused_tags: set[str] = set()
        self.rows_applied = 0
        self.analyzed_at = 0

    def _keep_statistics_fresh(self) -> None:
        """ANALYZE the chat user table each time this import has doubled it since the last
        time. Autovacuum lags behind a bulk load; without row counts the planner takes a
        whole-bot index for a key lookup (see ``prepare_chunk``). Only the lookups need it,
        and a fresh run makes none."""
        if not self.seen.postgres or self.options.dry_run or self.options.fresh:
            return
        grown = self.rows_applied
        if grown < max(CHUNK_ANALYZE_MIN, 2 * self.analyzed_at):
            return
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE chatusers_chatuser")
        self.analyzed_at = grown

    def register(self, rows: Sequence[ParsedRow]) -> None:
        """Claim the keys of rows an earlier run already applied (resuming after a crash)."""
        pairs: dict[str, int] = {}
        for row in rows:
            for key in _keys(row):
                pairs.setdefault(key, row.number)
        claimed = self.seen.claimed(self.seen.maybe_claimed(pairs))
        self.seen.claim([(key, number) for key, number in pairs.items() if key not in claimed])

    def apply(self, rows: Sequence[ParsedRow]) -> ChunkResult:
        """Decide and (unless a dry run) write one chunk; the caller holds the transaction."""
        result, plan = self.plan(rows)
        if not self.options.dry_run:
            self.write(plan, result, self.writer, self.tag_ids)
        return result

    def plan(self, rows: Sequence[ParsedRow], in_flight: InFlight | None = None) -> tuple[ChunkResult, _Plan]:
        """Decide one chunk without writing it (but for claiming its keys). ``in_flight``
        tells which chat users chunks decided earlier but not yet committed change: a
        lookup that finds one of those waits for them and looks again, so a row is decided
        on the state every earlier row of the file left."""
        self._keep_statistics_fresh()
        result = ChunkResult()
        rows = self._without_duplicates(rows, result)
        # Into a bot that had no chat user when the run began, a row can only match one this
        # run created, and that one claimed the row's key first: the row is a duplicate, already
        # set aside. One created meanwhile by someone else makes the insert lose the row, which
        # is then reported (see ``Writer.write``), as it would be had it come a moment later.
        existing = [] if self.options.fresh else self._existing(rows)
        if in_flight is not None and existing and in_flight.touched() & {user.id for user in existing}:
            in_flight.settle()
            existing = self._existing(rows)
        plan = _Plan()
        by_key = {}
        for user in existing:
            if user.values["email"]:
                by_key[f"e:{user.values['email'].lower()}"] = user
            if user.values["phone"]:
                by_key[f"p:{user.values['phone']}"] = user
            by_key[f"c:{user.client_ref}"] = user
            if user.remote_id:
                by_key[f"r:{user.remote_id}"] = user
        tags, variables = self._tags_and_variables([u.id for u in existing])
        self._resolve_tags(rows)
        self.client_refs = new_client_refs(len(rows))
        for row in rows:
            reason = self._decide(row, by_key, tags, variables, plan, result)
            if reason:
                result.rejected.append((row.number, reason, row.cells))
        plan.creates_tags = bool(self.new_tag_names)
        self.rows_applied += len(rows)
        return result, plan

    def write(
        self,
        plan: _Plan,
        result: ChunkResult,
        writer: Writer,
        tag_ids: dict[str, int],
        new_tag_names: dict[str, str] | None = None,
    ) -> None:
        """Write a decided chunk with ``writer`` (on the calling thread's connection, in its
        transaction), and count as rejected the rows that lost a key to someone else. Only
        the deciding thread creates tags (``new_tag_names``, by default the names it has
        met): a chunk written beside it gets none, and names none (``creates_tags``)."""
        lost = writer.write(plan, tag_ids, self.new_tag_names if new_tag_names is None else new_tag_names)
        for row in lost:
            result.created -= 1
            result.rejected.append((row.number, LOST_KEY, row.cells))

    def new_writer(self) -> Writer:
        """A writer for the calling thread's connection."""
        return (
            PostgresWriter(self.options)
            if connection.vendor == "postgresql"
            else PortableWriter(self.options)
        )

    def _without_duplicates(self, rows: Sequence[ParsedRow], result: ChunkResult) -> list[ParsedRow]:
        seen = self.seen
        keyed = [(row, _keys(row)) for row in rows]
        claimed = seen.claimed(seen.maybe_claimed([key for _, keys in keyed for key in keys]))
        kept, new_claims = [], []
        for row, keys in keyed:
            number = row.number
            first = next((key for key in keys if key in claimed), None) if claimed else None
            if first is not None:
                label = KEY_LABELS[first[0]]
                result.rejected.append(
                    (number, f"Same {label} as row {claimed[first]}: a duplicate in the file.", row.cells)
                )
                continue
            for key in keys:
                claimed[key] = number
                new_claims.append((key, number))
            kept.append(row)
        seen.claim(new_claims)
        return kept

    def _existing(self, rows: Sequence[ParsedRow]) -> list[_Existing]:
        emails, phones, refs, remote_ids = set(), set(), set(), set()
        for row in rows:
            for key in _keys(row):
                {"e": emails, "p": phones, "c": refs, "r": remote_ids}[key[0]].add(key[2:])
        condition = Q()
        if emails:
            condition |= Q(email__isnull=False, email_lower__in=emails)
        if phones:
            condition |= Q(phone__isnull=False, phone__in=phones)
        if refs:
            condition |= Q(client_ref__in=refs)
        if remote_ids:
            condition |= Q(remote_id__isnull=False, remote_id__in=remote_ids)
        if not condition:
            return []
        if connection.vendor == "postgresql":
            return self._existing_postgres(emails, phones, refs, remote_ids)
        found = (
            ChatUser.objects.filter(bot_id=self.options.bot_id)
            .annotate(email_lower=Lower("email"))
            .filter(condition)
            .values_list("id", "remote_id", "client_ref", *FIELDS)
        )
        return [
            _Existing(
                id=pk, remote_id=remote_id, client_ref=ref, values=dict(zip(FIELDS, values, strict=True))
            )
            for pk, remote_id, ref, *values in found
        ]

    def _existing_postgres(
        self, emails: set[str], phones: set[str], refs: set[str], remote_ids: set[str]
    ) -> list[_Existing]:
        """The same query as a UNION of one index lookup per key, with each key set as one
        array parameter (thousands of IN parameters cost more to send than to look up)."""
        columns = ", ".join(f"c.{name}" for name in ("id", "remote_id", "client_ref", *FIELDS))
        parts, params = [], []
        # The IS NOT NULL conditions match the partial unique indexes' own, so they serve.
        for condition, values in (
            ("lower(c.email) = k.value AND c.email IS NOT NULL", emails),
            ("c.phone = k.value AND c.phone IS NOT NULL", phones),
            ("c.client_ref = k.value", refs),
            ("c.remote_id = k.value AND c.remote_id IS NOT NULL", remote_ids),
        ):
            if values:
                parts.append(
                    f"SELECT {columns} FROM unnest(%s::text[]) AS k(value) JOIN chatusers_chatuser c"  # noqa: S608
                    f" ON {condition} AND c.bot_id = %s"
                )
                params += [list(values), self.options.bot_id]
        with connection.cursor() as cursor:
            cursor.execute(" UNION ".join(parts), params)
            found = cursor.fetchall()
        return [
            _Existing(
                id=pk, remote_id=remote_id, client_ref=ref, values=dict(zip(FIELDS, values, strict=True))
            )
            for pk, remote_id, ref, *values in found
        ]

    def _tags_and_variables(self, ids: list[int]) -> tuple[dict[int, set[int]], dict[int, dict[str, str]]]:
        tags: dict[int, set[int]] = {pk: set() for pk in ids}
        self.tag_names: dict[int, str] = {}
        variables: dict[int, dict[str, str]] = {pk: {} for pk in ids}
        if not ids:
            return tags, variables
        for chatuser_id, tag_id, name in ChatUserTag.objects.filter(chatuser_id__in=ids).values_list(
            "chatuser_id", "tag_id", "tag__name"
        ):
            tags[chatuser_id].add(tag_id)
            self.tag_names[tag_id] = name
        for chatuser_id, name, value in Variable.objects.filter(chatuser_id__in=ids).values_list(
            "chatuser_id", "name", "value"
        ):
            variables[chatuser_id][name] = value
        return tags, variables

    def _resolve_tags(self, rows: Sequence[ParsedRow]) -> None:
        """Ids of every tag name the chunk names (case-insensitively, as the tag's unique
        constraint compares). A name the bot lacks gets a negative stand-in id until the
        writer creates it (a dry run never does), in the order the file first names them,
        the tags for every row first, until ``max_new_tags``: later ones are refused."""
        wanted = {name.lower(): name for row in rows for name in (row.tags or ())}
        wanted.update({name.lower(): name for name in self.options.extra_tags})
        in_order = chain(self.extra_tag_names, wanted) if self.extra_tag_names else wanted
        missing = list(
            dict.fromkeys(
                lower for lower in in_order if lower not in self.tag_ids and lower not in self.refused_tags
            )
        )
        if not missing:
            return
        for tag_id, lower in (
            Tag.objects.filter(bot_id=self.options.bot_id)
            .annotate(name_lower=Lower("name"))
            .filter(name_lower__in=missing)
            .values_list("id", "name_lower")
        ):
            self.tag_ids[lower] = tag_id
        limit = self.options.max_new_tags
        for lower in missing:
            if lower not in self.tag_ids:
                if limit is not None and self.new_tags_met >= limit:
                    self.refused_tags.add(lower)
                    continue
                self.new_tags_met += 1
                self.tag_ids[lower] = -(len(self.new_tag_names) + 1)
                self.new_tag_names[lower] = wanted[lower]

    def _tag_set(self, names: Iterable[str]) -> set[int]:
        return {self.tag_ids[name.lower()] for name in names}

    def _decide(
        self,
        row: ParsedRow,
        by_key: dict[str, _Existing],
        tags: dict[int, set[int]],
        variables: dict[int, dict[str, str]],
        plan: _Plan,
        result: ChunkResult,
    ) -> str:
        options = self.options
        if self.refused_tags and row.tags:
            refused = next((name for name in row.tags if name.lower() in self.refused_tags), None)
            if refused is not None:
                return (
                    f"tags: “{refused}” is a new tag, past the {options.max_new_tags} new tags "
                    "one import may create."
                )
        key_kind = MATCH_KINDS[options.match_key]
        keys = _keys(row)
        by_kind = {key[0]: key[2:] for key in keys}
        if key_kind not in by_kind:
            label = KEY_LABELS[key_kind]
            return f"The row has no {label} to match on."
        matched = by_key.get(f"{key_kind}:{by_kind[key_kind]}") if by_key else None
        for key in keys if by_key else ():
            other = by_key.get(key)
            if other is not None and (matched is None or other.id != matched.id):
                return f"Its {KEY_LABELS[key[0]]} {key[2:]} belongs to another chat user (#{other.id})."
        if matched is None:
            if "r" in by_kind:
                return f"No chat user of this bot has the Userbot id {by_kind['r']}."
            if options.mode == ImportJob.Mode.UPDATE:
                return f"No chat user has this {KEY_LABELS[key_kind]} (the mode is update only)."
            fields = row.fields
            get = fields.get
            values = (  # CREATE_COLUMNS, a field the row leaves empty at its default
                get("client_ref") or next(self.client_refs),
                get("name", ""),
                get("surname", ""),
                get("email"),
                get("phone"),
                get("channel", "api"),
                get("language", ""),
            )
            tag_names = {name.lower() for name in (row.tags or ())} | self.extra_tag_names
            plan.creates.append(_Create(row.number, row.cells, values, tuple(tag_names), row.variables))
            result.created += 1
            return ""
        if "c" in by_kind and by_kind["c"] != matched.client_ref:
            return "A chat user's client_ref cannot change."
        if options.mode == ImportJob.Mode.CREATE:
            result.unchanged += 1  # create only: an existing chat user is left as it is
            return ""
        self._plan_update(row, matched, tags[matched.id], variables[matched.id], plan, result)
        return ""

    def _plan_update(
        self,
        row: ParsedRow,
        matched: _Existing,
        current_tags: set[int],
        current_variables: dict[str, str],
        plan: _Plan,
        result: ChunkResult,
    ) -> None:
        overwrite = self.options.overwrite
        changes = {}
        for name in FIELDS:
            if name not in row.fields:
                continue
            value, current = row.fields[name], matched.values[name]
            if name == "email" and current and value.lower() == current.lower():
                continue  # emails compare case-insensitively, as their uniqueness does
            if value != current and (overwrite or not current):
                changes[name] = value
        new_tags = set(current_tags)
        if row.tags is not None and (overwrite or not current_tags):
            new_tags = self._tag_set(row.tags)
        new_tags |= self._tag_set(self.options.extra_tags)
        variables_set = [
            (name, value)
            for name, value in row.variables.items()
            if current_variables.get(name) != value and (overwrite or not current_variables.get(name))
        ]
        if not changes and new_tags == current_tags and not variables_set:
            result.unchanged += 1
            return
        result.updated += 1
        plan.updates.append((matched.id, changes))
        plan.tags_added.extend((matched.id, t) for t in new_tags - current_tags)  # type: ignore[misc]
        plan.tags_removed.extend((matched.id, t) for t in current_tags - new_tags)  # type: ignore[misc]
        plan.variables_set.extend((matched.id, name, value) for name, value in variables_set)
        plan.changed_before[matched.id] = orjson.dumps(
            {
                "fields": matched.values,
                "tags": sorted(self.tag_names[t] for t in current_tags),
                "variables": current_variables,
            }
        ).decode()


# Set for each chunk's transaction, in one round trip (see ``prepare_chunk``).
_CHUNK_SETTINGS = (
    "SET LOCAL synchronous_commit TO off; SET LOCAL enable_seqscan TO off;"
    " SET LOCAL enable_hashjoin TO off; SET LOCAL enable_mergejoin TO off; SET LOCAL jit TO off"
)


def prepare_chunk() -> None:
    """Settings for one chunk's transaction on PostgreSQL.

    Asynchronous commit: a crash can lose the last few chunks, but whole, since a chunk's
    rows and the job's counters commit together; the job then resumes after the last chunk
    that survived, and nothing is counted twice or lost. Waiting for a WAL flush per chunk
    would cost more than the chunk's writes.

    Index probes: the planner has no statistics for ``lower(email)`` (ANALYZE skips the
    expressions of partial indexes) nor for a temporary table, so it guesses thousands of
    rows per key and sorts or hashes the whole table for every chunk, which made a
    million-row import quadratic. A nested loop of index probes per key is always right
    for a chunk's lookups; the writes read their staging tables whole either way.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CHUNK_SETTINGS)


class Writer:
    """Writes a decided chunk; returns the created rows it could not insert (a key taken
    concurrently), which the caller reports as rejected."""

    def __init__(self, options: Options) -> None:
        self.options = options

    def write(self, plan: _Plan, tag_ids: dict[str, int], new_tag_names: dict[str, str]) -> list[_Create]:
        self._create_tags(tag_ids, new_tag_names)
        lost, created_ids = self.insert_chatusers(plan)
        created = [
            (pk, create) for create, pk in zip(plan.creates, created_ids, strict=True) if pk is not None
        ]
        if created:
            self.finish_created(
                [pk for pk, _ in created],
                [(pk, tag_ids[name]) for pk, create in created for name in create.tag_names],
                [(pk, name, value) for pk, create in created for name, value in create.variables.items()],
            )
        updated_ids = [pk for pk, _ in plan.updates]
        if updated_ids:
            now = timezone.now()
            self.update_chatusers([(pk, changes) for pk, changes in plan.updates if changes], now)
            self.remove_tags([(pk, tag_ids_of(tag, tag_ids)) for pk, tag in plan.tags_removed])
            self.add_tags([(pk, tag_ids_of(tag, tag_ids)) for pk, tag in plan.tags_added])
            self.set_variables(plan.variables_set)
            self.touch(updated_ids, now)
            self.record([(pk, False, before) for pk, before in plan.changed_before.items()])
        # One marking for the chunk, created and changed alike: the created are pending
        # already, and no second entry joins one an object has.
        mark_changed_ids(ChatUser, self.options.bot_id, [*(pk for pk, _ in created), *updated_ids])
        return lost

    def finish_created(
        self, ids: list[int], tags: list[tuple[int, int]], variables: list[tuple[int, str, str]]
    ) -> None:
        """The tags, variables and undo rows of the chat users this chunk created. Being new,
        they can hold no tag or variable yet."""
        self.add_tags(tags)
        self.set_variables(variables)
        self.record([(pk, True, None) for pk in ids])

    def _create_tags(self, tag_ids: dict[str, int], new_tag_names: dict[str, str]) -> None:
        if not new_tag_names:
            return
        Tag.objects.bulk_create(
            [Tag(bot_id=self.options.bot_id, name=name) for name in new_tag_names.values()],
            ignore_conflicts=True,
        )
        created = []
        for tag_id, lower in (
            Tag.objects.filter(bot_id=self.options.bot_id)
            .annotate(name_lower=Lower("name"))
            .filter(name_lower__in=list(new_tag_names))
            .values_list("id", "name_lower")
        ):
            stand_in = tag_ids[lower]
            tag_ids[lower] = tag_id
            tag_ids[str(stand_in)] = tag_id
            created.append(tag_id)
        new_tag_names.clear()
        # Kept with the job, in the chunk's transaction, for its undo.
        job = ImportJob.objects.select_for_update().only("created_tags").get(pk=self.options.job_id)
        job.created_tags = sorted({*job.created_tags, *created})
        job.save(update_fields=["created_tags"])

    def insert_chatusers(self, plan: _Plan) -> tuple[list[_Create], list[int | None]]:
        raise NotImplementedError

    def update_chatusers(self, rows: list[tuple[int, dict[str, Any]]], now: Any) -> None:
        raise NotImplementedError

    def add_tags(self, pairs: list[tuple[int, int]]) -> None:
        raise NotImplementedError

    def remove_tags(self, pairs: list[tuple[int, int]]) -> None:
        if not pairs:
            return
        condition = Q()
        by_tag: dict[int, list[int]] = {}
        for pk, tag in pairs:
            by_tag.setdefault(tag, []).append(pk)
        for tag, pks in by_tag.items():
            condition |= Q(tag_id=tag, chatuser_id__in=pks)
        ChatUserTag.objects.filter(condition).delete()

    def set_variables(self, rows: list[tuple[int, str, str]]) -> None:
        raise NotImplementedError

    def touch(self, ids: list[int], now: Any) -> None:
        if ids:
            ChatUser.objects.filter(pk__in=ids).update(updated_at=now)

    def record(self, changes: list[tuple[int, bool, str | None]]) -> None:
        """Undo rows: (chat user id, created, the before-image's JSON or None)."""
        raise NotImplementedError


def tag_ids_of(tag: int, tag_ids: dict[str, int]) -> int:
    """A real tag id for ``tag``, which may be the stand-in of a tag created since."""
    return tag_ids.get(str(tag), tag) if tag < 0 else tag


class PortableWriter(Writer):
    """bulk_create / bulk_update: any database Django supports."""

    def insert_chatusers(self, plan: _Plan) -> tuple[list[_Create], list[int | None]]:
        objects = [
            ChatUser(bot_id=self.options.bot_id, **dict(zip(CREATE_COLUMNS, create.values, strict=True)))
            for create in plan.creates
        ]
        ChatUser.objects.bulk_create(objects, batch_size=500)
        if objects and objects[0].pk is None:
            ids = dict(
                ChatUser.objects.filter(
                    bot_id=self.options.bot_id, client_ref__in=[o.client_ref for o in objects]
                ).values_list("client_ref", "id")
            )
            return [], [ids[o.client_ref] for o in objects]
        return [], [o.pk for o in objects]

    def update_chatusers(self, rows: list[tuple[int, dict[str, Any]]], now: Any) -> None:
        by_fields: dict[tuple[str, ...], list[ChatUser]] = {}
        for pk, changes in rows:
            by_fields.setdefault(tuple(sorted(changes)), []).append(
                ChatUser(pk=pk, **changes, updated_at=now)
            )
        for names, objects in by_fields.items():
            ChatUser.objects.bulk_update(objects, [*names, "updated_at"], batch_size=500)

    def add_tags(self, pairs: list[tuple[int, int]]) -> None:
        ChatUserTag.objects.bulk_create(
            [ChatUserTag(chatuser_id=pk, tag_id=tag) for pk, tag in pairs],
            ignore_conflicts=True,
            batch_size=500,
        )

    def set_variables(self, rows: list[tuple[int, str, str]]) -> None:
        Variable.objects.bulk_create(
            [Variable(chatuser_id=pk, name=name, value=value) for pk, name, value in rows],
            update_conflicts=True,
            unique_fields=["chatuser", "name"],
            update_fields=["value"],
            batch_size=500,
        )

    def record(self, changes: list[tuple[int, bool, str | None]]) -> None:
        ImportChange.objects.bulk_create(
            [
                ImportChange(
                    job_id=self.options.job_id,
                    chatuser_id=pk,
                    created=created,
                    before=None if before is None else orjson.loads(before),
                )
                for pk, created, before in changes
            ],
            batch_size=500,
        )


class PostgresWriter(Writer):
    """COPY into temporary tables, then one set-based statement per table."""

    STAGING = {
        "import_new_chatusers": (
            "id bigint, client_ref text, name text, surname text, email text, phone text, channel text,"
            " language text"
        ),
        "import_changed_chatusers": "id bigint, "
        + ", ".join(f"{name} text, set_{name} boolean" for name in FIELDS),
        "import_chatuser_tags": "chatuser_id bigint, tag_id bigint",
        "import_variables": "chatuser_id bigint, name text, value text",
    }

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        # Made once per session, outside the chunks' transactions (a chunk that rolls back
        # would take a table it created with it); each commit empties them.
        with connection.cursor() as cursor:
            for table, columns in self.STAGING.items():
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
                cursor.execute(f"CREATE TEMPORARY TABLE {table} ({columns}) ON COMMIT DELETE ROWS")

    def _stage(self, cursor: Any, table: str, rows: Iterable[Sequence[Any]]) -> None:
        names = ", ".join(part.split()[0] for part in self.STAGING[table].split(","))
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def insert_chatusers(self, plan: _Plan) -> tuple[list[_Create], list[int | None]]:
        """COPY straight into the chat user table, with ids drawn beforehand by the statement
        that also writes their undo rows (so those rows are built by the database). A key
        someone else took meanwhile fails the COPY, which takes those rows back with it:
        then the chunk's creates go again through ``INSERT ... ON CONFLICT DO NOTHING``,
        which reports the rows that lost."""
        if not plan.creates:
            return [], []
        now = timezone.now()
        ids: list[int] = []
        with connection.cursor() as cursor:
            try:
                with transaction.atomic():
                    cursor.execute(
                        "WITH ids AS (SELECT nextval(pg_get_serial_sequence(%s, 'id')) AS id"  # noqa: S608
                        "  FROM generate_series(1, %s)),"
                        f" changes AS (INSERT INTO {ImportChange._meta.db_table}"
                        "  (job_id, chatuser_id, created) SELECT %s, id, true FROM ids)"
                        " SELECT id FROM ids",
                        [ChatUser._meta.db_table, len(plan.creates), self.options.job_id],
                    )
                    ids = [pk for (pk,) in cursor.fetchall()]
                    self._copy_chatusers(cursor, plan, ids, now)
            except (IntegrityError, psycopg.errors.UniqueViolation):
                if not ids:
                    raise  # not the COPY: nothing a retry would change
                return self._insert_chatusers_skipping_taken(cursor, plan, ids, now)
        return [], list(ids)

    def _copy_chatusers(self, cursor: Any, plan: _Plan, ids: list[int], now: Any) -> None:
        bot_id, pending = self.options.bot_id, SyncState.PENDING
        with cursor.cursor.copy(
            f"COPY {ChatUser._meta.db_table} (id, bot_id, client_ref, name, surname, email, phone,"
            " channel, language, sync_state, sync_error, created_at, updated_at) FROM STDIN"
        ) as copy:
            for pk, create in zip(ids, plan.creates, strict=True):
                copy.write_row((pk, bot_id, *create.values, pending, "", now, now))

    def _insert_chatusers_skipping_taken(
        self, cursor: Any, plan: _Plan, ids: list[int], now: Any
    ) -> tuple[list[_Create], list[int | None]]:
        """The ids drawn for the COPY that failed are still unused: they serve again."""
        self._stage(
            cursor,
            "import_new_chatusers",
            ((pk, *create.values) for pk, create in zip(ids, plan.creates, strict=True)),
        )
        cursor.execute(
            "INSERT INTO chatusers_chatuser (id, bot_id, client_ref, name, surname, email, phone, channel,"
            " language, sync_state, sync_error, created_at, updated_at)"
            " SELECT id, %s, client_ref, name, surname, email, phone, channel, language, %s, '', %s, %s"
            " FROM import_new_chatusers ON CONFLICT DO NOTHING RETURNING id",
            [self.options.bot_id, SyncState.PENDING, now, now],
        )
        inserted = {pk for (pk,) in cursor.fetchall()}
        created = [pk for pk in ids if pk in inserted]
        if created:
            self.record([(pk, True, None) for pk in created])
        lost = [create for pk, create in zip(ids, plan.creates, strict=True) if pk not in inserted]
        return lost, [pk if pk in inserted else None for pk in ids]

    def update_chatusers(self, rows: list[tuple[int, dict[str, Any]]], now: Any) -> None:
        if not rows:
            return
        # Each row sets only the fields it changes: a NULL "given" flag keeps the current value.
        staged = (
            (pk, *[v for name in FIELDS for v in (changes.get(name), name in changes)])
            for pk, changes in rows
        )
        assignments = ", ".join(
            f"{name} = CASE WHEN s.set_{name} THEN s.{name} ELSE c.{name} END" for name in FIELDS
        )
        with connection.cursor() as cursor:
            self._stage(cursor, "import_changed_chatusers", staged)
            cursor.execute(
                f"UPDATE chatusers_chatuser c SET {assignments}, updated_at = %s"  # noqa: S608
                " FROM import_changed_chatusers s WHERE c.id = s.id",
                [now],
            )

    def add_tags(self, pairs: list[tuple[int, int]]) -> None:
        if not pairs:
            return
        with connection.cursor() as cursor:
            self._stage(cursor, "import_chatuser_tags", pairs)
            cursor.execute(
                "INSERT INTO chatusers_chatusertag (chatuser_id, tag_id) SELECT chatuser_id, tag_id"
                " FROM import_chatuser_tags ON CONFLICT DO NOTHING"
            )

    def set_variables(self, rows: list[tuple[int, str, str]]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            self._stage(cursor, "import_variables", rows)
            cursor.execute(
                "INSERT INTO chatusers_variable (chatuser_id, name, value) SELECT chatuser_id, name, value"
                " FROM import_variables ON CONFLICT (chatuser_id, name) DO UPDATE SET value = EXCLUDED.value"
            )

    def touch(self, ids: list[int], now: Any) -> None:
        if ids:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE chatusers_chatuser SET updated_at = %s WHERE id = ANY(%s)", [now, ids])

    def finish_created(
        self, ids: list[int], tags: list[tuple[int, int]], variables: list[tuple[int, str, str]]
    ) -> None:
        """Tags and variables, by plain COPY: a chat user created in this transaction has none
        to conflict with. Its undo row came with its id (see ``insert_chatusers``)."""
        with connection.cursor() as cursor:
            if tags:
                with cursor.cursor.copy(
                    f"COPY {ChatUserTag._meta.db_table} (chatuser_id, tag_id) FROM STDIN"
                ) as copy:
                    for pair in tags:
                        copy.write_row(pair)
            if variables:
                with cursor.cursor.copy(
                    f"COPY {Variable._meta.db_table} (chatuser_id, name, value) FROM STDIN"
                ) as copy:
                    for row in variables:
                        copy.write_row(row)

    def record(self, changes: list[tuple[int, bool, str | None]]) -> None:
        if not changes:
            return
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {ImportChange._meta.db_table} (job_id, chatuser_id, created, before) FROM STDIN"
            ) as copy,
        ):
            for pk, created, before in changes:
                copy.write_row(
                    (
                        self.options.job_id,
                        pk,
                        created,
                        before,
                    )
                )
