"""The outbox in the admin: the dead-letter list by default, where an operator retries or
ignores what Userbot refused for good. Entries are the relay's: nobody adds or edits one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.text import Truncator

from backoffice.sync import services
from backoffice.sync.admin.common import NamedObjectsChangeList, ObjectTypeFilter, object_admin_url, since
from backoffice.sync.models import OutboxEntry

Dead = OutboxEntry.State.DEAD


class StateFilter(admin.SimpleListFilter):
    """Dead letters unless asked otherwise: what an operator comes here for."""

    title = "state"
    parameter_name = "state"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*OutboxEntry.State.choices, (self.ALL, "All")]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or Dead
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> QuerySet[OutboxEntry]:
        value = self.value() or Dead
        return queryset if value == self.ALL else queryset.filter(state=value)


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
        self,
        request: HttpRequest,
        queryset: QuerySet[OutboxEntry],
        service: Callable[..., Any],
        done: str,
    ) -> None:
        not_dead = queryset.exclude(state=Dead).count()
        applied = 0
        for entry in queryset.filter(state=Dead).order_by("id"):
            try:
                service(entry=entry, actor=request.user)
            except ValidationError:
                continue  # retried or ignored by someone else meanwhile
            applied += 1
        message = f"{done} {applied} dead entr{'ies' if applied != 1 else 'y'}."
        if not_dead:
            were = "entries were" if not_dead != 1 else "entry was"
            message += f" {not_dead} selected {were} not dead and left as is."
        self.message_user(request, message, messages.SUCCESS if applied else messages.WARNING)

    @admin.action(description="Retry the selected dead entries", permissions=["retry"])
    def retry_entries(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        self._each_dead(request, queryset, services.outbox_entry_retry, "Queued again")

    @admin.action(description="Ignore the selected dead entries…", permissions=["ignore"])
    def ignore_entries(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> HttpResponse | None:
        # The change an entry carries is lost to Userbot: confirm first, like a deletion.
        if request.POST.get("post"):
            self._each_dead(request, queryset, services.outbox_entry_ignore, "Ignored")
            return None
        entries = list(queryset.filter(state=Dead).select_related("bot").order_by("id"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Ignore dead entries",
            "opts": self.opts,
            "entries": entries,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") == "1",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/sync/outboxentry/ignore_confirmation.html", context)
