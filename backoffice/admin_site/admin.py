"""An operator's saved views: theirs only, to open or delete (they are saved from a list)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from backoffice.admin_site import services
from backoffice.admin_site.models import SavedView
from backoffice.admin_site.site import forget_saved_views


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "open_link", "model", "query", "created_at"]
    list_display_links = None
    actions = ["delete_views"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SavedView]:
        return super().get_queryset(request).filter(user=request.user)

    # Each operator's own: any staff user sees and deletes theirs, nobody else's.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request) and (obj is None or obj.user_id == request.user.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="open")
    def open_link(self, view: SavedView) -> str:
        return format_html('<a href="{}">Open</a>', reverse("admin:saved_view_open", args=[view.pk]))

    @admin.action(description="Delete the selected saved views", permissions=["delete"])
    def delete_views(self, request: HttpRequest, queryset: QuerySet[SavedView]) -> None:
        deleted = 0
        for view in queryset.filter(user=request.user):
            services.saved_view_delete(view=view)
            deleted += 1
        forget_saved_views(request)
        self.message_user(request, f"Deleted {deleted} saved view{'s' if deleted != 1 else ''}.")

    def delete_model(self, request: HttpRequest, obj: SavedView) -> None:
        services.saved_view_delete(view=obj)
        forget_saved_views(request)
