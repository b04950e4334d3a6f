"""The operator's admin site: named for the product, its models in the operator's groups,
and an index that is a dashboard of the bots."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, URLResolver, path, reverse
from django.views.decorators.http import require_POST

from backoffice.accounts.admin_site import BackofficeAdminSite
from backoffice.admin_site import dashboard, services
from backoffice.admin_site.columns import COOKIE_PREFIX
from backoffice.admin_site.groups import GROUPS, grouped
from backoffice.admin_site.models import SavedView
from backoffice.operations.selectors import operations_running
from livechat.access import can_view_chats

PRODUCT = "Userbot back office"
SAVED_VIEWS_KEPT_S = 300
# The sidebars kept by each process, one for each set of permissions seen (roles make them
# few); past this many, they are built afresh.
GROUPS_KEPT = 64
_GROUPS_BY_ACCESS: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
# Who sees the dashboard: its figures are of chat users and of the sync.
DASHBOARD_PERMISSIONS = ("chatusers.view_chatuser", "sync.view_botsync", "insights.view_daystats")


class OperatorAdminSite(BackofficeAdminSite):
    site_header = PRODUCT
    site_title = PRODUCT
    index_title = "Dashboard"
    index_template = "admin_site/index.html"

    def get_urls(self) -> list[URLPattern | URLResolver]:
        ours = [
            path("group/<slug:slug>/", self.admin_view(self.group_index), name="group_index"),
            path("views/save/", self.admin_view(require_POST(self.saved_view_save)), name="saved_view_save"),
            path("views/<int:pk>/", self.admin_view(self.saved_view_open), name="saved_view_open"),
        ]
        return ours + super().get_urls()

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        if app_label is not None:
            return super().get_app_list(request, app_label)
        groups = self._groups_of(request)
        saved = _saved_views_group(request)
        return [saved, *groups] if saved else list(groups)

    def _groups_of(self, request: HttpRequest) -> list[dict[str, Any]]:
        """The sidebar's groups for what the user may do, built once per process for each set
        of permissions: every page draws them, and building them takes two address lookups
        and five permission checks a model. Each model admin decides from the user's
        permissions and flags alone, which the key holds; the registry is fixed at start."""
        user = request.user
        access = _access_of(user)
        groups = _GROUPS_BY_ACCESS.get(access)
        if groups is None:
            groups = grouped(super().get_app_list(request))
            _link_new_import(request, groups)
            if len(_GROUPS_BY_ACCESS) >= GROUPS_KEPT:
                _GROUPS_BY_ACCESS.clear()
            _GROUPS_BY_ACCESS[access] = groups
        return groups

    # --- saved views: a list as the operator left it, under a name -------------------------

    def saved_view_save(self, request: HttpRequest) -> HttpResponse:
        """Save the list the form was posted from (its filters, search, order and columns)."""
        label = request.POST.get("model", "")
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError) as error:
            raise Http404("No such list.") from error
        opts = model._meta
        if model not in self._registry or not self._registry[model].has_view_or_change_permission(request):
            raise PermissionDenied
        changelist = reverse(f"{self.name}:{opts.app_label}_{opts.model_name}_changelist")
        query = request.POST.get("query", "")
        columns = request.COOKIES.get(f"{COOKIE_PREFIX}{opts.app_label}_{opts.model_name}", "")
        try:
            view = services.saved_view_save(
                user=request.user,
                name=request.POST.get("name", ""),
                model=label,
                query=query,
                columns=columns,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            forget_saved_views(request)
            messages.success(request, f"Saved as “{view.name}”: it is in the sidebar.")
        return HttpResponseRedirect(f"{changelist}?{query}" if query else changelist)

    def saved_view_open(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Open a saved view: its list, with its query and its columns."""
        view = get_object_or_404(SavedView, pk=pk, user=request.user)
        app_label, _, model_name = view.model.partition(".")
        try:
            changelist = reverse(f"{self.name}:{app_label}_{model_name}_changelist")
        except NoReverseMatch as error:
            raise Http404("This list is gone.") from error
        response = HttpResponseRedirect(f"{changelist}?{view.query}" if view.query else changelist)
        cookie = f"{COOKIE_PREFIX}{app_label}_{model_name}"
        if view.columns:
            response.set_cookie(cookie, view.columns, max_age=365 * 24 * 3600, samesite="Lax")
        else:
            response.delete_cookie(cookie, samesite="Lax")
        return response

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context: dict[str, Any] = {"operations": operations_running(user=request.user)}
        if any(request.user.has_perm(p) for p in DASHBOARD_PERMISSIONS):
            rows, counted_at = dashboard.dashboard_rows(with_chats=can_view_chats(request.user))
            context.update(dashboard=rows, chatusers_counted_at=counted_at)
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


def _access_of(user: Any) -> tuple[Any, ...]:
    """What the sidebar depends on: a superuser may do everything (no permission query);
    anyone else, what their permissions and groups' permissions allow."""
    flags = (bool(user.is_active), bool(user.is_staff), bool(user.is_superuser))
    if user.is_superuser or not user.is_active:
        return flags
    return (*flags, frozenset(user.get_all_permissions()))


def _saved_views_group(request: HttpRequest) -> dict[str, Any] | None:
    """The operator's saved views, first in the sidebar and on the index (one query)."""
    if not request.user.is_authenticated:
        return None
    views = _saved_views_of(request)
    if not views:
        return None
    return {
        "name": "Saved views",
        "app_label": "saved-views",
        "app_url": reverse("admin:admin_site_savedview_changelist"),
        "has_module_perms": True,
        "models": [
            {
                "model": SavedView,
                "name": name,
                "object_name": f"savedview{pk}",
                "admin_url": reverse("admin:saved_view_open", args=[pk]),
                "add_url": None,
                "view_only": True,
                "perms": {"view": True},
            }
            for pk, name in views
        ],
    }


def _saved_views_of(request: HttpRequest) -> list[tuple[int, str]]:
    """The operator's views (id, name), kept in the cache for a few minutes: the sidebar is on
    every page, and a list page should cost what it did before views existed. Saving or
    deleting a view forgets the kept copy at once."""
    key = _saved_views_key(request.user.pk)
    views = cache.get(key)
    if views is None:
        views = list(SavedView.objects.filter(user=request.user).values_list("pk", "name"))
        cache.set(key, views, SAVED_VIEWS_KEPT_S)
    return views


def _saved_views_key(user_id: int) -> str:
    return f"admin-site:saved-views:{user_id}"


def forget_saved_views(request: HttpRequest) -> None:
    cache.delete(_saved_views_key(request.user.pk))


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
