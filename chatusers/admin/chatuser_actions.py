"""The chat user list's actions: on the selection, or on everything the filters and search
match, each confirmed with its count, then applied through a service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from backoffice.admin_site.bulk import confirm_bulk
from backoffice.sync import services as sync_services
from chatusers import services
from chatusers.export import chatusers_export
from chatusers.models import ChatUser, Tag

# The changelist's own parameters that do not choose which chat users are listed.
_NOT_A_FILTER = {"p", "o", "_changelist_filters"}


class BulkActionForm(forms.Form):
    tag = forms.ModelChoiceField(
        queryset=Tag.objects.all(), help_text="Only chat users of the tag's bot change."
    )


class ChatUserActionsMixin:
    """Add or remove a tag, push now, delete and export; Django's ``delete_selected`` is
    replaced by ``delete_chatusers``, which goes through the services."""

    admin_site: Any
    media: Any
    model: type[ChatUser]
    message_user: Callable[..., None]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        actions.pop("delete_selected", None)
        return actions

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet[ChatUser],
        *,
        title: str,
        submit_label: str,
        apply: Callable[[QuerySet[ChatUser], dict[str, Any]], str],
        form_class: type[forms.Form] | None = None,
        destructive: bool = False,
    ) -> HttpResponse | None:
        """Show how many chat users the action will change, then apply it once confirmed."""
        return confirm_bulk(
            self,  # type: ignore[arg-type]
            request,
            queryset,
            title=title,
            submit_label=submit_label,
            apply=apply,
            counted=lambda count: f"{count} chat user{'s' if count != 1 else ''}",
            form_class=form_class,
            destructive=destructive,
        )

    @admin.action(description="Add a tag to the selected chat users", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse | None:
        def apply(chatusers: QuerySet[ChatUser], data: dict[str, Any]) -> str:
            changed = services.chatuser_add_tag(chatusers=chatusers, tag=data["tag"], actor=request.user)
            return f"Tag “{data['tag']}” added to {changed} chat user{'s' if changed != 1 else ''}."

        return self._confirm(
            request,
            queryset,
            title="Add a tag",
            submit_label="Add the tag",
            apply=apply,
            form_class=BulkActionForm,
        )

    @admin.action(description="Remove a tag from the selected chat users", permissions=["change"])
    def remove_tag(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse | None:
        def apply(chatusers: QuerySet[ChatUser], data: dict[str, Any]) -> str:
            changed = services.chatuser_remove_tag(chatusers=chatusers, tag=data["tag"], actor=request.user)
            return f"Tag “{data['tag']}” removed from {changed} chat user{'s' if changed != 1 else ''}."

        return self._confirm(
            request,
            queryset,
            title="Remove a tag",
            submit_label="Remove the tag",
            apply=apply,
            form_class=BulkActionForm,
        )

    @admin.action(description="Push the selected chat users to Userbot now", permissions=["change"])
    def push_now(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> None:
        # Whatever their state: an errored chat user is sent again as it is now.
        chatusers = queryset.select_related(None).only("id", "bot_id", "name", "surname", "email", "phone")
        pushed = sync_services.objects_push_now(objects=chatusers, actor=request.user)
        self.message_user(
            request,
            f"{pushed} chat user{'s' if pushed != 1 else ''} queued for a push to Userbot.",
            messages.SUCCESS,
        )

    @admin.action(description="Delete the selected chat users", permissions=["delete"])
    def delete_chatusers(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse | None:
        def apply(chatusers: QuerySet[ChatUser], data: dict[str, Any]) -> str:
            deleted = services.chatusers_delete(chatusers=chatusers, actor=request.user)
            return f"Deleted {deleted} chat user{'s' if deleted != 1 else ''}."

        return self._confirm(
            request,
            queryset,
            title="Delete chat users",
            submit_label="Yes, delete them",
            apply=apply,
            destructive=True,
        )

    @admin.action(description="Export the selected chat users as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> StreamingHttpResponse:
        # Nothing changes, so no confirmation: the file is the answer, and the history
        # records who took it.
        lines = chatusers_export(chatusers=queryset, actor=request.user, scope=_export_scope(request))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="chatusers-{stamp}.csv"'
        return response


def _export_scope(request: HttpRequest) -> str:
    """Which chat users an export took, in words for the history: the list's filter and
    search, and either everything they match or the selected ids."""
    filters = [f"{key}={value}" for key, value in request.GET.items() if key not in _NOT_A_FILTER]
    described = f"filter {', '.join(filters)}" if filters else "no filter"
    if request.POST.get("select_across") == "1":
        return f"{described}; every chat user matching it"
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    shown = ", ".join(selected[:50]) + (f" and {len(selected) - 50} more" if len(selected) > 50 else "")
    return f"{described}; selected ids {shown}"
