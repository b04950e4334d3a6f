"""Long operations in the admin: the list of them, and one page per operation that follows
it to its end (the shared progress element: bar, counts, rate, time left, cancel).

An operation is its starter's: an operator sees and cancels the ones they started, a
superuser every one. An export's file carries personal data, so only its starter (or a
superuser) may download it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from backoffice.admin_site.readonly import ReadOnlyAdmin
from backoffice.operations import services
from backoffice.operations.models import Operation
from backoffice.operations.selectors import operation_progress


def progress_url(operation: Operation) -> str:
    return reverse("admin:operations_operation_progress", args=[operation.pk])


def _may_see(user: Any, operation: Operation) -> bool:
    return bool(user.is_superuser or operation.created_by_id == user.pk)


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = ["title_link", "status", "counts", "created_by", "created_at"]
    list_display_links = None
    list_filter = ["status", "bot"]
    list_select_related = ["bot", "created_by"]
    search_fields = ["title"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not (request.user.is_active and request.user.is_staff):
            return False
        return obj is None or _may_see(request.user, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operation]:
        queryset = super().get_queryset(request).defer("query")
        return queryset if request.user.is_superuser else queryset.filter(created_by=request.user)

    @admin.display(description="operation", ordering="title")
    def title_link(self, obj: Operation) -> str:
        return format_html('<a href="{}">{}</a>', progress_url(obj), obj.title)

    @admin.display(description="progress")
    def counts(self, obj: Operation) -> str:
        of = "" if obj.total is None else f" of {obj.total:,}"
        return f"{obj.done:,}{of} {obj.noun}"

    # --- the operation's page ---------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any, name: str, route: str) -> URLPattern:
            return path(route, self.admin_site.admin_view(function), name=f"operations_operation_{name}")

        return [
            view(self.progress_view, "progress", "<int:operation_id>/progress/"),
            view(self.progress_json_view, "progress_json", "<int:operation_id>/progress.json"),
            view(require_POST(self.cancel_view), "cancel", "<int:operation_id>/cancel/"),
            view(self.download_view, "download", "<int:operation_id>/download/"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # An operation's page is its progress; its raw fields add nothing.
        if not object_id.isdigit():
            raise Http404
        return HttpResponseRedirect(reverse("admin:operations_operation_progress", args=[int(object_id)]))

    def _operation(self, request: HttpRequest, operation_id: int) -> Operation:
        operation = get_object_or_404(
            Operation.objects.select_related("bot", "created_by").defer("query"), pk=operation_id
        )
        if not self.has_view_permission(request, operation):
            raise PermissionDenied
        return operation

    def progress_view(self, request: HttpRequest, operation_id: int) -> HttpResponse:
        operation = self._operation(request, operation_id)
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": operation.title,
            "opts": self.model._meta,
            "operation": operation,
            "progress": operation_progress(operation=operation),
            "json_url": reverse("admin:operations_operation_progress_json", args=[operation.pk]),
            "cancel_url": reverse("admin:operations_operation_cancel", args=[operation.pk]),
            "download_url": reverse("admin:operations_operation_download", args=[operation.pk])
            if operation.file and operation.status == Operation.Status.DONE
            else "",
            "back_url": operation.params.get("back_url", ""),
        }
        return TemplateResponse(request, "admin/operations/operation/progress.html", context)

    def progress_json_view(self, request: HttpRequest, operation_id: int) -> JsonResponse:
        return JsonResponse(operation_progress(operation=self._operation(request, operation_id)))

    def cancel_view(self, request: HttpRequest, operation_id: int) -> HttpResponse:
        operation = self._operation(request, operation_id)
        if services.operation_cancel(operation=operation):
            self.message_user(request, "Cancelling: the operation stops after the chunk it is writing now.")
        else:
            self.message_user(request, "The operation had already finished.", messages.WARNING)
        return HttpResponseRedirect(progress_url(operation))

    def download_view(self, request: HttpRequest, operation_id: int) -> FileResponse:
        operation = self._operation(request, operation_id)
        if not operation.file or operation.status != Operation.Status.DONE:
            raise Http404("This operation has no file to download.")
        if not default_storage.exists(operation.file):
            raise Http404("The file has expired and was deleted; run the export again.")
        name = operation.file.rsplit("/", 1)[-1]
        return FileResponse(default_storage.open(operation.file, "rb"), as_attachment=True, filename=name)
