"""The import's writer for PostgreSQL: COPY into temporary tables, then one set-based
statement per table.

New chat users are COPYed straight into their table, with ids drawn by the statement that
also writes their undo rows; changes are COPYed into temporary tables for one ``INSERT ...
ON CONFLICT`` or ``UPDATE ... FROM`` per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backoffice.sync.models import SyncState
from chatusers.import_models import ImportChange
from chatusers.imports.plan import FIELDS, Create, Options, Plan
from chatusers.imports.writer import Writer
from chatusers.models import ChatUser, ChatUserSync, ChatUserTag, Variable


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

    def insert_chatusers(self, plan: Plan) -> tuple[list[Create], list[int | None]]:
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

    def _copy_chatusers(self, cursor: Any, plan: Plan, ids: list[int], now: Any) -> None:
        bot_id = self.options.bot_id
        with cursor.cursor.copy(
            f"COPY {ChatUser._meta.db_table} (id, bot_id, client_ref, name, surname, email, phone,"
            " channel, language, created_at, updated_at) FROM STDIN"
        ) as copy:
            for pk, create in zip(ids, plan.creates, strict=True):
                copy.write_row((pk, bot_id, *create.values, now, now))
        self._add_records(cursor, ids, now)

    def _add_records(self, cursor: Any, ids: list[int], now: Any) -> None:
        """The new chat users' sync records: pending, until the relay has pushed them."""
        bot_id, pending = self.options.bot_id, SyncState.PENDING
        with cursor.cursor.copy(
            f"COPY {ChatUserSync._meta.db_table} (chatuser_id, bot_id, created_at, sync_state, sync_error)"
            " FROM STDIN"
        ) as copy:
            for pk in ids:
                copy.write_row((pk, bot_id, now, pending, ""))

    def _insert_chatusers_skipping_taken(
        self, cursor: Any, plan: Plan, ids: list[int], now: Any
    ) -> tuple[list[Create], list[int | None]]:
        """The ids drawn for the COPY that failed are still unused: they serve again."""
        self._stage(
            cursor,
            "import_new_chatusers",
            ((pk, *create.values) for pk, create in zip(ids, plan.creates, strict=True)),
        )
        cursor.execute(
            "INSERT INTO chatusers_chatuser (id, bot_id, client_ref, name, surname, email, phone, channel,"
            " language, created_at, updated_at)"
            " SELECT id, %s, client_ref, name, surname, email, phone, channel, language, %s, %s"
            " FROM import_new_chatusers ON CONFLICT DO NOTHING RETURNING id",
            [self.options.bot_id, now, now],
        )
        inserted = {pk for (pk,) in cursor.fetchall()}
        created = [pk for pk in ids if pk in inserted]
        if created:
            self._add_records(cursor, created, now)
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
