"""A row's match keys, and the keys earlier rows of the file claimed.

Keys repeated inside the file: the first row that carries an email, phone, client_ref or
Userbot id claims it, and a later row with the same key is rejected as a duplicate of that
row (see ``Upserter``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection

from chatusers.imports.validation import ParsedRow

KEY_LABELS = {"e": "email", "p": "phone", "c": "client_ref", "r": "Userbot id"}


def row_keys(row: ParsedRow) -> list[str]:
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
