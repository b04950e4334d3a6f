"""The history of CSV imports of chat users in the admin, with the pages of a new import
(``import_pages``) hanging off its URLs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from backoffice.admin_site.readonly import ReadOnlyAdmin
from chatusers.admin.import_access import can_import, can_view_imports
from chatusers.admin.import_forms import field_choices
from chatusers.admin.import_pages import ImportPagesAdmin, undoable
from chatusers.import_models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(ImportPagesAdmin, ReadOnlyAdmin):
    """Every import, read-only: the pages of a new import and undo hang off its URLs."""

    list_display = [
        "created_at",
        "created_by",
        "file_link",
        "run",
        "status",
        "counts",
        "rejected_rows",
        "undo_link",
    ]
    list_display_links = None
    list_filter = ["status", "dry_run", "mode", "bot"]
    list_select_related = ["bot", "created_by"]
    search_fields = ["original_name"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    list_per_page = 50

    # --- permissions: the history is a record, nobody edits it --------------------------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_view_imports(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view_imports(request.user)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        if can_import(request.user):
            return list(self.list_display)
        return [column for column in self.list_display if column != "undo_link"]

    # --- columns ----------------------------------------------------------------------------

    @admin.display(description="file", ordering="original_name")
    def file_link(self, obj: ImportJob) -> str:
        return format_html(
            '<a href="{}">{}</a><br>{}', self._url("progress", obj.pk), obj.original_name, obj.bot
        )

    @admin.display(description="run", ordering="dry_run")
    def run(self, obj: ImportJob) -> str:
        mode = dict(field_choices("mode")).get(obj.mode, obj.mode)
        return f"dry run ({mode.lower()})" if obj.dry_run else mode

    @admin.display(description="counts")
    def counts(self, obj: ImportJob) -> str:
        total = "…" if obj.rows_total is None else obj.rows_total
        return format_html(
            '<span title="created · updated · unchanged · rejected">{} · {} · {} · {}</span>'
            "<br>{} of {} rows",
            obj.created,
            obj.updated,
            obj.unchanged,
            obj.rejected,
            obj.rows_done,
            total,
        )

    @admin.display(description="rejected")
    def rejected_rows(self, obj: ImportJob) -> str:
        if not (obj.rejected and obj.rejected_file):
            return self.get_empty_value_display()
        return format_html('<a href="{}">CSV</a>', self._url("rejected", obj.pk))

    @admin.display(description="undo")
    def undo_link(self, obj: ImportJob) -> str:
        if not undoable(obj):
            return self.get_empty_value_display()
        return format_html('<a href="{}">Undo…</a>', self._url("undo", obj.pk))
