"""A paginator that never counts a whole large table, for changelists of a million rows,
and a changelist that reads a list whose matches all fit on one page by their keys."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

# A filtered list counts at most this many rows (ten pages of 100), which stays a few
# milliseconds whatever the filter; past it the page says "over 1,000" and why.
COUNT_CAP = 1_000


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to ``COUNT_CAP`` rows; an unfiltered list on PostgreSQL past that
    size takes the planner's row estimate (``pg_class.reltuples``) instead of a COUNT.
    ``approximation`` says which: "about" (an estimate), "over" (more than the cap, which
    ``count`` then is) or "" (exact). When every match fits on one page, ``every_pk`` holds
    their primary keys."""

    approximation = ""
    every_pk: list[Any] | None = None

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
        # The keys rather than COUNT(*), for the same time: a search that finds a few chat
        # users then reads them by key instead of searching again (KeyedPageChangeList).
        pks = list(rows.order_by().values_list("pk", flat=True)[: COUNT_CAP + 1])
        if len(pks) > COUNT_CAP:
            self.approximation = "over"
            return COUNT_CAP
        if len(pks) <= self.per_page:
            self.every_pk = pks
        return len(pks)


class KeyedPageChangeList(ChangeList):
    """A list whose matches the count found all at once is read by their keys, in the
    list's order: an expensive filter or search (a trigram index scan) runs once, not twice.
    The keys are what matched a moment before, as a count and a page always were."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        every_pk = getattr(self.paginator, "every_pk", None)
        if every_pk is not None:
            by_key = self.root_queryset.filter(pk__in=every_pk).order_by(*self.queryset.query.order_by)
            self.result_list = self.apply_select_related(by_key)


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
