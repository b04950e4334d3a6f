"""A paginator that never counts a whole large table, for changelists of a million rows."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# A filtered list counts at most this many rows (ten pages of 100), which stays a few
# milliseconds whatever the filter; past it the page says "over 1,000" and why.
COUNT_CAP = 1_000


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to ``COUNT_CAP`` rows; an unfiltered list on PostgreSQL past that
    size takes the planner's row estimate (``pg_class.reltuples``) instead of a COUNT.
    ``approximation`` says which: "about" (an estimate), "over" (more than the cap, which
    ``count`` then is) or "" (exact)."""

    approximation = ""

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not isinstance(rows, QuerySet):
            return super().count
        if not rows.query.where:
            estimate = _estimated_rows(rows)
            if estimate > COUNT_CAP:
                self.approximation = "about"
                return estimate
        # One more than the cap tells "exactly 1,000" from "over 1,000" in the same query.
        counted = rows.order_by().values("pk")[: COUNT_CAP + 1].count()
        if counted > COUNT_CAP:
            self.approximation = "over"
            return COUNT_CAP
        return counted


def _estimated_rows(rows: QuerySet) -> int:
    connection = connections[rows.db]
    if connection.vendor != "postgresql":
        return -1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [rows.model._meta.db_table]
        )
        found = cursor.fetchone()
    return int(found[0]) if found else -1
