"""The database a benchmark runs in: one of its own beside the one in ``DATABASE_URL``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg


def bench_database(url: str, suffix: str, *, fresh: bool = True) -> str:
    """The URL of the database named after the one in ``url`` with ``suffix`` appended,
    dropped and made again unless ``fresh`` is False (reuse it as it is)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database")
    name = f"{parts.path.lstrip('/') or 'postgres'}{suffix}"
    if fresh:
        # From the maintenance database, which is there whether or not the named one is.
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup_django(url: str, *, migrate: bool = False) -> None:
    """Django on the database at ``url`` (quiet logging unless asked), migrated if asked."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
