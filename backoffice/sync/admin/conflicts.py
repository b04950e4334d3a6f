"""Conflicts in the admin: open ones first, and a page per conflict that shows the last synced
value, ours and Userbot's side by side, where an operator keeps ours or takes theirs.

A conflict is a record: once found it is never edited or deleted by hand, only resolved
through the services, which also bring its object back in sync. ``ConflictNoticeMixin``
gives every synced object's own page its warning of them (and follows its push).
"""

from __future__ import annotations

from typing import Any

import orjson
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Model, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from backoffice.sync import services
from backoffice.sync.admin.common import ObjectTypeFilter, object_admin_url, when
from backoffice.sync.gone import DELETED_FIELD
from backoffice.sync.kinds import kind_for
from backoffice.sync.models import BotSync, SyncConflict, SyncState, records
from backoffice.sync.selectors import open_conflict_count

Open = SyncConflict.Resolution.OPEN
Ours = SyncConflict.Resolution.OURS
Theirs = SyncConflict.Resolution.THEIRS


def shown(value: Any) -> str:
    """A document value as an operator reads it: text as is, anything else as JSON."""
    if value is None:
        return "(not set)"
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def conflicts_url(*, object_type: str, object_id: int) -> str:
    """The conflict list filtered to one object's open conflicts."""
    query = urlencode({"object_type": object_type, "object_id": object_id, "resolution__exact": Open})
    return f"{reverse('admin:sync_syncconflict_changelist')}?{query}"


def open_conflicts_context(model: type[Model], object_id: int) -> dict[str, Any]:
    """What a synced object's change page needs to warn of its open conflicts
    (``admin/sync/change_form_with_conflicts.html``): how many, and the open deletion on
    Userbot if there is one, whose two answers the page offers in place."""
    where = {"object_type": model._meta.label_lower, "object_id": object_id}
    count = open_conflict_count(**where)
    deletion = None
    if count:
        deletion = SyncConflict.objects.filter(**where, resolution=Open, field=DELETED_FIELD).first()
    return {
        "open_conflicts": count,
        "open_conflicts_url": conflicts_url(**where) if count else "",
        "deleted_on_userbot": deletion,
    }


class ConflictNoticeMixin:
    """A change page that warns of the object's open conflicts with Userbot, linking to them
    (and, for a deletion on Userbot, answering it in place), and that keeps the object's
    sync state current while it is pushed."""

    change_form_template = "admin/sync/change_form_with_conflicts.html"
    model: type[Model]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        if object_id.isdigit():
            opts = self.model._meta  # type: ignore[attr-defined]
            notice = open_conflicts_context(self.model, int(object_id))  # type: ignore[attr-defined]
            state_url = reverse("admin:sync_object_state", args=[opts.label_lower, int(object_id)])
            extra_context = {**notice, "sync_state_url": state_url, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]


class ConflictKindFilter(admin.SimpleListFilter):
    """Changes made on both sides, or objects Userbot deleted while a change here waited."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("field", "Changed on both sides"), ("deletion", "Deleted on Userbot")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SyncConflict]) -> QuerySet[SyncConflict]:
        if self.value() == "deletion":
            return queryset.filter(field=DELETED_FIELD)
        if self.value() == "field":
            return queryset.exclude(field=DELETED_FIELD)
        return queryset


@admin.register(SyncConflict)
class SyncConflictAdmin(admin.ModelAdmin):
    list_display = ["object_link", "field", "values", "resolution", "detected", "resolved"]
    list_display_links = None  # the object column links to the conflict's page itself
    list_select_related = ["bot", "resolved_by"]
    list_filter = ["resolution", ConflictKindFilter, "bot", ObjectTypeFilter]
    search_fields = ["object_repr", "field"]
    list_per_page = 100
    actions = ["keep_ours", "take_theirs"]

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        open_first = Case(When(resolution=Open, then=Value(0)), default=Value(1), output_field=IntegerField())
        return [open_first.asc(), "-detected_at", "-id"]

    # --- a record: nobody adds, edits or deletes one; resolving needs the change permission

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SyncConflict | None = None) -> bool:
        return False

    # --- columns ------------------------------------------------------------------------

    @admin.display(description="object", ordering="object_repr")
    def object_link(self, conflict: SyncConflict) -> str:
        return format_html(
            '<a href="{}">{}</a><br><span class="quiet">{}</span>',
            reverse("admin:sync_syncconflict_change", args=[conflict.pk]),
            conflict.object_repr,
            conflict.bot,
        )

    @admin.display(description="last synced → ours | Userbot's")
    def values(self, conflict: SyncConflict) -> str:
        def cut(value: Any) -> str:
            return Truncator(shown(value)).chars(40)

        return format_html(
            "{} → <strong>{}</strong> | <strong>{}</strong>",
            cut(conflict.base_value),
            cut(conflict.local_value),
            cut(conflict.remote_value),
        )

    @admin.display(description="detected", ordering="detected_at")
    def detected(self, conflict: SyncConflict) -> str | None:
        return when(conflict.detected_at)

    @admin.display(description="resolved", ordering="resolved_at")
    def resolved(self, conflict: SyncConflict) -> str | None:
        if conflict.resolved_at is None:
            return None
        by = f" by {conflict.resolved_by.get_username()}" if conflict.resolved_by else ""
        return f"{when(conflict.resolved_at)}{by}"

    # --- the page of a conflict -----------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any, name: str) -> URLPattern:
            return path(
                f"<path:object_id>/{name.replace('_', '-')}/",
                self.admin_site.admin_view(require_POST(function)),
                name=f"sync_syncconflict_{name}",
            )

        return [
            view(self.keep_ours_view, "keep_ours"),
            view(self.take_theirs_view, "take_theirs"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        conflict = self.get_object(request, unquote(object_id))
        if conflict is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, conflict):
            raise PermissionDenied
        obj = _object_of(conflict)
        current = _current_value(conflict, obj)
        others = SyncConflict.objects.filter(
            object_type=conflict.object_type, object_id=conflict.object_id, resolution=Open
        ).exclude(pk=conflict.pk)
        request.current_app = self.admin_site.name
        is_deletion = conflict.field == DELETED_FIELD
        bot_sync = BotSync.objects.filter(bot_id=conflict.bot_id).first() if is_deletion else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Conflict on “{conflict.field}” of {conflict.object_repr}",
            "subtitle": None,
            "opts": self.opts,
            "original": conflict,
            "conflict": conflict,
            "has_view_permission": True,
            "may_resolve": conflict.resolution == Open and self.has_change_permission(request, conflict),
            "object": obj,
            "object_url": object_admin_url(conflict.object_type, conflict.object_id) if obj else None,
            "base": shown(conflict.base_value),
            "ours": shown(conflict.local_value),
            "theirs": "(deleted on Userbot)" if is_deletion else shown(conflict.remote_value),
            "is_deletion": is_deletion,
            "on_remote_delete": bot_sync.get_on_remote_delete_display().lower() if bot_sync else "",
            # Ours may have moved since the conflict was found; keeping ours keeps what is here now.
            "ours_now": shown(current) if obj is not None and current != conflict.local_value else None,
            "other_open": list(others.order_by("field")),
            "resolved_by": conflict.resolved_by,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/sync/syncconflict/conflict.html", context)

    def keep_ours_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._resolve_view(request, object_id, Ours)

    def take_theirs_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._resolve_view(request, object_id, Theirs)

    def _resolve_view(self, request: HttpRequest, object_id: str, resolution: str) -> HttpResponse:
        conflict = get_object_or_404(SyncConflict, pk=unquote(object_id))
        if not self.has_change_permission(request, conflict):
            raise PermissionDenied
        resolve = services.conflict_keep_ours if resolution == Ours else services.conflict_take_theirs
        try:
            resolve(conflict=conflict, actor=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.message_user(request, _outcome(conflict), messages.SUCCESS)
        # Answered from the object's own page: back there, if the object is still here.
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
            if _object_of(conflict) is not None:
                return HttpResponseRedirect(back)
        return HttpResponseRedirect(reverse("admin:sync_syncconflict_change", args=[conflict.pk]))

    # --- bulk ---------------------------------------------------------------------------

    def _bulk(self, request: HttpRequest, queryset: QuerySet[SyncConflict], resolution: str) -> None:
        selected = list(queryset.order_by("id"))
        open_ones = [c for c in selected if c.resolution == Open]
        resolved = services.conflicts_resolve(conflicts=open_ones, resolution=resolution, actor=request.user)
        side = "Kept ours" if resolution == Ours else "Took Userbot's value"
        message = f"{side} in {resolved} conflict{'s' if resolved != 1 else ''}."
        if not_open := len(selected) - len(open_ones):
            message += f" {not_open} selected conflict{'s were' if not_open != 1 else ' was'} not open."
        if failed := len(open_ones) - resolved:
            message += (
                f" {failed} could not be resolved (resolved meanwhile, or refused): see"
                f" {'their pages' if failed != 1 else 'its page'}."
            )
        self.message_user(request, message, messages.SUCCESS if resolved else messages.WARNING)

    @admin.action(description="Keep ours in the selected conflicts", permissions=["change"])
    def keep_ours(self, request: HttpRequest, queryset: QuerySet[SyncConflict]) -> None:
        self._bulk(request, queryset, Ours)

    @admin.action(description="Take Userbot's value in the selected conflicts", permissions=["change"])
    def take_theirs(self, request: HttpRequest, queryset: QuerySet[SyncConflict]) -> None:
        self._bulk(request, queryset, Theirs)


def _object_of(conflict: SyncConflict) -> Any:
    try:
        kind = kind_for(conflict.object_type)
    except KeyError:
        return None  # a kind no longer synced: only the recorded values are left
    return kind.model.objects.filter(pk=conflict.object_id).first()


def _current_value(conflict: SyncConflict, obj: Any) -> Any:
    if obj is None:
        return None
    return kind_for(conflict.object_type).local_docs([obj]).get(obj.pk, {}).get(conflict.field)


def _state_of(conflict: SyncConflict) -> str | None:
    """The sync state of the conflict's object, None if it is no longer here."""
    model = kind_for(conflict.object_type).model
    return records(model, [conflict.object_id]).values_list("sync_state", flat=True).first()


def _deletion_outcome(conflict: SyncConflict) -> str:
    state = _state_of(conflict)
    if conflict.resolution == Ours:
        return f"{conflict.object_repr} is queued to be created on Userbot again, as it is here."
    if state is None:
        return f"Accepted the delete: {conflict.object_repr} is deleted here too."
    return f"Accepted the delete: {conflict.object_repr} is kept here, flagged as deleted on Userbot."


def _outcome(conflict: SyncConflict) -> str:
    """What resolving did, in the words of the object's new state."""
    if conflict.resolution == SyncConflict.Resolution.GONE:
        return f"{conflict.object_repr} no longer exists here: the conflict is closed."
    if conflict.field == DELETED_FIELD:
        return _deletion_outcome(conflict)
    side = "Kept ours" if conflict.resolution == Ours else "Took Userbot's value"
    done = f"{side} for “{conflict.field}” of {conflict.object_repr}"
    state = _state_of(conflict)
    if state == SyncState.SYNCED:
        return f"{done}: it is in sync with Userbot."
    if state == SyncState.PENDING:
        return f"{done}: it is queued for a push to Userbot."
    left = open_conflict_count(object_type=conflict.object_type, object_id=conflict.object_id)
    return (
        f"{done}: {left} more open conflict{'s' if left != 1 else ''} of it wait{'s' if left == 1 else ''}."
    )
