"""The outbox in the admin: every change waiting for Userbot, and the dead letters on a page
of their own, where an operator retries or ignores what Userbot refused for good. Entries
are the relay's: nobody adds or edits one.

A synced object's change page also asks here, as JSON, how its push is going
(``object_state_view``), and keeps its sync state current while the push runs.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.text import Truncator

from backoffice.admin_site.bulk import on_everything, start_on_everything
from backoffice.admin_site.dates import moment_html
from backoffice.operations.admin import progress_url
from backoffice.sync.admin.common import NamedObjectsChangeList, ObjectTypeFilter, object_admin_url, since
from backoffice.sync.kinds import all_kinds
from backoffice.sync.models import OutboxEntry, SyncConflict, with_records
from backoffice.sync.operations import DEAD_ACTS, dead_entries, dead_entries_apply

Dead = OutboxEntry.State.DEAD
DEAD_LETTERS_PAGE = "sync_outboxentry_dead"
# Dead entries the ignore confirmation names; it counts the rest.
SHOWN = 100


class StateFilter(admin.SimpleListFilter):
    """Every entry unless asked for one state (``?state=dead`` and the like)."""

    title = "state"
    parameter_name = "state"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.ALL, "All"), *OutboxEntry.State.choices]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or self.ALL
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> QuerySet[OutboxEntry]:
        value = self.value() or self.ALL
        return queryset if value == self.ALL else queryset.filter(state=value)


def _on_dead_letters_page(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == DEAD_LETTERS_PAGE


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ["object_link", "state", "bot", "attempts", "short_last_error", "age"]
    list_display_links = None
    list_select_related = ["bot"]
    list_filter = [StateFilter, "bot", ObjectTypeFilter]
    ordering = ["created_at", "id"]
    list_per_page = 100
    actions = ["retry_entries", "ignore_entries"]
    fields = [
        "object_type",
        "object_id",
        "bot",
        "deleted",
        "remote_id",
        "client_ref",
        "state",
        "attempts",
        "next_attempt_at",
        "claimed_by",
        "claimed_at",
        "last_error",
        "created_at",
        "updated_at",
    ]

    # --- read-only: the relay writes entries; retry and ignore go through services --------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEntry | None = None) -> bool:
        return False  # an entry goes through "ignore", which leaves its trace on the object

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"sync.{get_permission_codename('change', self.opts)}")

    def has_ignore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"sync.{get_permission_codename('delete', self.opts)}")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[NamedObjectsChangeList]:
        return NamedObjectsChangeList

    # --- the dead letters: the outbox's list, on a page of its own ----------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path("dead/", self.admin_site.admin_view(self.dead_letters_view), name=DEAD_LETTERS_PAGE),
            path(
                "state/<str:label>/<int:object_id>/",
                self.admin_site.admin_view(self.object_state_view),
                name="sync_object_state",
            ),
            *super().get_urls(),
        ]

    def dead_letters_view(self, request: HttpRequest) -> HttpResponse:
        """What Userbot refused for good, to retry or ignore: the list without its state filter."""
        return self.changelist_view(request, {"title": "Dead letters", "list_title": "Dead letters"})

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxEntry]:
        entries = super().get_queryset(request)
        return entries.filter(state=Dead) if _on_dead_letters_page(request) else entries

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        if _on_dead_letters_page(request):
            return [f for f in self.list_filter if f is not StateFilter]
        return list(self.list_filter)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        if _on_dead_letters_page(request):
            return [c for c in self.list_display if c != "state"]
        return list(self.list_display)

    # --- an object's push, as its change page follows it --------------------------------

    def object_state_view(self, request: HttpRequest, label: str, object_id: int) -> JsonResponse:
        """The sync state of one synced object, its last sync and error, and where its change
        is in the outbox: what a change page shows, read again while a push runs."""
        if label not in {kind.label for kind in all_kinds()}:
            raise Http404("Not a kind the sync engine knows.")
        model = apps.get_model(label)
        if not request.user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}") and not (
            request.user.has_perm(f"{model._meta.app_label}.change_{model._meta.model_name}")
        ):
            raise PermissionDenied
        obj = with_records(model._default_manager.filter(pk=object_id), "pk").first()
        if obj is None:
            raise Http404("No such object: it may have been deleted.")
        entry = (
            OutboxEntry.objects.filter(object_type=label, object_id=object_id, deleted=False)
            .order_by("-id")
            .values_list("state", flat=True)
            .first()
        )
        conflicts = SyncConflict.objects.filter(
            object_type=label, object_id=object_id, resolution=SyncConflict.Resolution.OPEN
        ).count()
        synced = moment_html(obj.synced_at, relative=True) or "-"
        return JsonResponse(
            {
                "sync_state": obj.sync_state,
                "sync_state_label": obj.get_sync_state_display(),
                "outbox": entry or "",
                "open_conflicts": conflicts,
                # The page's read-only fields, by the name their row has on the page.
                "fields": {
                    "sync_state": format_html("{}", obj.get_sync_state_display()),
                    "synced_at": synced,
                    "synced_moment": synced,
                    "sync_error": format_html("{}", obj.sync_error or "-"),
                    "remote_id": format_html("{}", obj.remote_id or "-"),
                },
            }
        )

    # --- columns ------------------------------------------------------------------------

    @admin.display(description="object")
    def object_link(self, entry: OutboxEntry) -> str:
        if entry.deleted:
            return format_html("deletion of {} {}", entry.object_type, entry.remote_id or entry.client_ref)
        obj = getattr(entry, "named_object", None)
        label = str(obj) if obj is not None else f"{entry.object_type} #{entry.object_id}"
        url = object_admin_url(entry.object_type, entry.object_id)
        if url is None or obj is None:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="last error")
    def short_last_error(self, entry: OutboxEntry) -> str:
        return format_html(
            '<span title="{}">{}</span>', entry.last_error, Truncator(entry.last_error).chars(100)
        )

    @admin.display(description="age", ordering="created_at")
    def age(self, entry: OutboxEntry) -> str | None:
        return since(entry.created_at)

    # --- actions ------------------------------------------------------------------------

    def _each_dead(
        self, request: HttpRequest, queryset: QuerySet[OutboxEntry], act: str
    ) -> HttpResponse | None:
        """Retry or ignore (``act``) the selected dead entries here, or every one the list
        matches as a long operation, whose page the operator is taken to."""
        service, done = DEAD_ACTS[act]
        if on_everything(request):
            operation = start_on_everything(
                request,
                queryset,
                kind=f"sync.dead_{act}",
                title=act.capitalize(),
                one="dead entry",
                many="dead entries",
            )
            return HttpResponseRedirect(progress_url(operation))
        not_dead = queryset.exclude(state=Dead).count()
        applied = dead_entries_apply(entries=queryset, service=service, actor=request.user)
        message = f"{done} {dead_entries(applied)}."
        if not_dead:
            were = "entries were" if not_dead != 1 else "entry was"
            message += f" {not_dead} selected {were} not dead and left as is."
        self.message_user(request, message, messages.SUCCESS if applied else messages.WARNING)
        return None

    @admin.action(description="Retry the selected dead entries", permissions=["retry"])
    def retry_entries(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> HttpResponse | None:
        return self._each_dead(request, queryset, "retry")

    @admin.action(description="Ignore the selected dead entries…", permissions=["ignore"])
    def ignore_entries(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> HttpResponse | None:
        # The change an entry carries is lost to Userbot: confirm first, like a deletion.
        if request.POST.get("post"):
            return self._each_dead(request, queryset, "ignore")
        # Everything a list matches may be a hundred thousand entries: count them, show some.
        dead = queryset.filter(state=Dead)
        context = {
            **self.admin_site.each_context(request),
            "title": "Ignore dead entries",
            "opts": self.opts,
            "count": dead.count(),
            "entries": list(dead.select_related("bot").order_by("id")[:SHOWN]),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": on_everything(request),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/sync/outboxentry/ignore_confirmation.html", context)
