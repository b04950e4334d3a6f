"""Reads of leads for their pages."""

from __future__ import annotations

from django.db import connection
from django.db.models import Model, QuerySet

from chatusers.models import ChatUser
from leads.models import Lead

CHATUSERS_SHOWN = 50


def chatusers_of_domain(*, lead: Lead) -> QuerySet[ChatUser]:
    """The chat users of the lead's bot whose email is at the lead's domain (any case)."""
    domain = lead.domain.strip()
    if not domain:
        return ChatUser.objects.none()
    at = f"@{domain}"
    # The search column holds the email and has a trigram index: it narrows, the suffix decides.
    return (
        ChatUser.objects.filter(bot_id=lead.bot_id, search_text__icontains=at, email__iendswith=at)
        .only("id", "name", "surname", "email")
        .order_by("email", "pk")
    )


def distinct_values(model: type[Model], column: str, *, limit: int, skip_prefix: str = "") -> list[str]:
    """The distinct non-empty values of an indexed ``column`` in order, at most ``limit``, those
    starting with ``skip_prefix`` left out: a skip scan (one index probe per value), where
    SELECT DISTINCT would read every row of a large table."""
    table = model._meta.db_table
    quoted = connection.ops.quote_name(column)
    # Table and column names come from the model's meta, never from input.
    after = f"SELECT {quoted} FROM {table} WHERE {quoted} > {{}} ORDER BY {quoted} LIMIT 1"  # noqa: S608
    sql = f"""
        WITH RECURSIVE found(value, n) AS (
            SELECT ({after.format("%s")}), 1
            UNION ALL
            SELECT ({after.format("found.value")}), n + 1
            FROM found WHERE found.value IS NOT NULL AND n < %s
        )
        SELECT value FROM found WHERE value IS NOT NULL
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, ["", limit * 4])
        values = [row[0] for row in cursor.fetchall()]
    return [v for v in values if not (skip_prefix and v.startswith(skip_prefix))][:limit]
