"""What the sync admins share: links to the objects they name, and plain time columns."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from backoffice.admin_site.dates import moment_html
from backoffice.sync.kinds import all_kinds


def object_admin_url(object_type: str, object_id: int) -> str | None:
    """The admin page of a synced object named by ``app_label.model`` and id, if it has one."""
    app_label, _, model_name = object_type.partition(".")
    try:
        return reverse(f"admin:{app_label}_{model_name}_change", args=[object_id])
    except NoReverseMatch:
        return None


def when(moment: datetime | None) -> str | None:
    """A moment as every admin page writes it, how long ago with the exact one as a tooltip."""
    return moment_html(moment, relative=True)


def since(moment: datetime | None) -> str | None:
    """How long ago (an age), the exact moment as a tooltip."""
    return moment_html(moment, relative=True)


class ObjectTypeFilter(admin.SimpleListFilter):
    """The kinds the engine syncs, from the registry: no query to list them."""

    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(kind.label, str(kind.model._meta.verbose_name_plural).capitalize()) for kind in all_kinds()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        return queryset.filter(object_type=self.value())


class NamedObjectsChangeList(ChangeList):
    """A list of rows that name synced objects by ``object_type`` and ``object_id``: the page's
    objects are loaded in one query per type, whatever the number of rows, as ``row.named_object``
    (None for an object no longer here)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        wanted: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            wanted[row.object_type].add(row.object_id)
        found: dict[tuple[str, int], Any] = {}
        for label, ids in wanted.items():
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError):
                continue
            for obj in model._default_manager.filter(pk__in=ids):
                found[(label, obj.pk)] = obj
        for row in rows:
            row.named_object = found.get((row.object_type, row.object_id))
        self.result_list = rows
