"""Deciding what the rows of an import do, a chunk at a time.

Per chunk: one query finds every existing chat user any row's keys name (email, phone,
client_ref, Userbot id), unless the bot had none when the run began (``lookup``); Python
decides each row's fate (create, update, unchanged, or rejected with a reason) and the
after-state (``Upserter.plan``); then a writer applies it (``Upserter.write``, see
``writer`` and ``postgres_writer``), maybe on a connection of its own (see ``parallel``).

Keys repeated inside the file: the first row that carries an email, phone, client_ref or
Userbot id claims it, and a later row with the same key is rejected as a duplicate of that
row. So what a row does never depends on a later row, a dry run predicts the real run
exactly, and re-importing the same file finds every row unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain

import orjson
from django.db import connection
from django.db.models.functions import Lower

from backoffice.sync.models import new_client_refs
from chatusers.import_models import ImportJob
from chatusers.imports.keys import KEY_LABELS, SeenKeys, row_keys
from chatusers.imports.lookup import existing_chatusers, tags_and_variables
from chatusers.imports.plan import FIELDS, ChunkResult, Create, Existing, InFlight, Options, Plan
from chatusers.imports.postgres_writer import PostgresWriter
from chatusers.imports.validation import ParsedRow
from chatusers.imports.writer import PortableWriter, Writer
from chatusers.models import Tag

CHUNK_ANALYZE_MIN = 5000
LOST_KEY = "Another chat user took this row's email or phone while the import ran."
MATCH_KINDS = {"email": "e", "phone": "p", "remote_id": "r"}


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
        # The names of the tags the chat users of the chunk being decided hold, by id.
        self.tag_names: dict[int, str] = {}
        # Tags this run creates (or, in a dry run, would), and those past the limit it refuses.
        self.new_tags_met = 0
        self.refused_tags: set[str] = set()
        self.rows_applied = 0
        self.analyzed_at = 0

    def _keep_statistics_fresh(self) -> None:
        """ANALYZE the chat user table and its sync records each time this import has doubled
        them since the last time. Autovacuum lags behind a bulk load; without row counts the
        planner takes a whole-bot index for a key lookup (see ``prepare_chunk``). Only the
        lookups need it, and a fresh run makes none."""
        if not self.seen.postgres or self.options.dry_run or self.options.fresh:
            return
        grown = self.rows_applied
        if grown < max(CHUNK_ANALYZE_MIN, 2 * self.analyzed_at):
            return
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE chatusers_chatuser")
            cursor.execute("ANALYZE chatusers_chatusersync")
        self.analyzed_at = grown

    def register(self, rows: Sequence[ParsedRow]) -> None:
        """Claim the keys of rows an earlier run already applied (resuming after a crash)."""
        pairs: dict[str, int] = {}
        for row in rows:
            for key in row_keys(row):
                pairs.setdefault(key, row.number)
        claimed = self.seen.claimed(self.seen.maybe_claimed(pairs))
        self.seen.claim([(key, number) for key, number in pairs.items() if key not in claimed])

    def apply(self, rows: Sequence[ParsedRow]) -> ChunkResult:
        """Decide and (unless a dry run) write one chunk; the caller holds the transaction."""
        result, plan = self.plan(rows)
        if not self.options.dry_run:
            self.write(plan, result, self.writer, self.tag_ids)
        return result

    def plan(self, rows: Sequence[ParsedRow], in_flight: InFlight | None = None) -> tuple[ChunkResult, Plan]:
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
        existing = [] if self.options.fresh else existing_chatusers(self.options.bot_id, rows)
        if in_flight is not None and existing and in_flight.touched() & {user.id for user in existing}:
            in_flight.settle()
            existing = existing_chatusers(self.options.bot_id, rows)
        plan = Plan()
        by_key = {}
        for user in existing:
            if user.values["email"]:
                by_key[f"e:{user.values['email'].lower()}"] = user
            if user.values["phone"]:
                by_key[f"p:{user.values['phone']}"] = user
            by_key[f"c:{user.client_ref}"] = user
            if user.remote_id:
                by_key[f"r:{user.remote_id}"] = user
        tags, variables, self.tag_names = tags_and_variables([u.id for u in existing])
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
        plan: Plan,
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
        keyed = [(row, row_keys(row)) for row in rows]
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
        by_key: dict[str, Existing],
        tags: dict[int, set[int]],
        variables: dict[int, dict[str, str]],
        plan: Plan,
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
        keys = row_keys(row)
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
            plan.creates.append(Create(row.number, row.cells, values, tuple(tag_names), row.variables))
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
        matched: Existing,
        current_tags: set[int],
        current_variables: dict[str, str],
        plan: Plan,
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
