"""The operator's admin site: named for the product, its models in the operator's groups,
and an index that is a dashboard of the bots."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, URLResolver, path, reverse

from backoffice.accounts.admin_site import BackofficeAdminSite
from backoffice.admin_site import dashboard
from backoffice.admin_site.groups import GROUPS, grouped

PRODUCT = "Userbot back office"
# Who sees the dashboard: its figures are of chat users and of the sync.
DASHBOARD_PERMISSIONS = ("chatusers.view_chatuser", "sync.view_botsync")


class OperatorAdminSite(BackofficeAdminSite):
    site_header = PRODUCT
    site_title = PRODUCT
    index_title = "Dashboard"
    index_template = "admin_site/index.html"

    def get_urls(self) -> list[URLPattern | URLResolver]:
        groups = [path("group/<slug:slug>/", self.admin_view(self.group_index), name="group_index")]
        return groups + super().get_urls()

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        groups = grouped(apps)
        _link_new_import(request, groups)
        return groups

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context: dict[str, Any] = {}
        if any(request.user.has_perm(p) for p in DASHBOARD_PERMISSIONS):
            rows, counted_at = dashboard.dashboard_rows()
            context = {"dashboard": rows, "chatusers_counted_at": counted_at}
        return super().index(request, {**context, **(extra_context or {})})

    def group_index(self, request: HttpRequest, slug: str) -> HttpResponse:
        """A group's page, as an app's page is: what the breadcrumbs' middle level opens."""
        group = next((g for g in self.get_app_list(request) if g["app_label"] == slug), None)
        if group is None or slug not in {g.slug for g in GROUPS}:
            raise Http404("No such group, or nothing in it you may see.")
        context = {
            **self.each_context(request),
            "title": group["name"],
            "subtitle": None,
            "app_list": [group],
            "app_label": slug,
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/app_index.html", context)


def _link_new_import(request: HttpRequest, groups: list[dict[str, Any]]) -> None:
    """The imports' "Add" opens the upload page, for those who may import."""
    if not request.user.has_perms(("chatusers.add_chatuser", "chatusers.change_chatuser")):
        return
    for group in groups:
        for entry in group["models"]:
            if entry["model"]._meta.label_lower == "chatusers.importjob":
                try:
                    entry["add_url"] = reverse("admin:chatusers_importjob_upload")
                except NoReverseMatch:
                    return
