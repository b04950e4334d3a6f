"""The chat user list's actions: on the selection, or on everything the filters and search
match, each confirmed with its count, then applied through a service. On a selection (a
page at most) an action runs inside the request; on everything the list matches it runs as
a long operation in a worker, whose page shows its progress and can cancel it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils import timezone

from backoffice.admin_site.bulk import confirm_bulk, on_everything, scope_words, start_on_everything
from backoffice.operations.admin import progress_url
from backoffice.operations.models import Operation
from chatusers import operations as bulk
from chatusers.export import chatusers_export
from chatusers.models import ChatUser, Tag


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
        kind: str,
        action: Callable[..., str],
        form_class: type[forms.Form] | None = None,
        destructive: bool = False,
    ) -> HttpResponse | None:
        """Show how many chat users the action will change, then apply it once confirmed."""

        def apply(chatusers: QuerySet[ChatUser], data: dict[str, Any]) -> str:
            return action(chatusers=chatusers, actor=request.user, **data)

        def start(chatusers: QuerySet[ChatUser], data: dict[str, Any]) -> Operation:
            named = f"{title} “{data['tag']}”" if "tag" in data else title
            return start_on_everything(
                request, chatusers, kind=kind, title=named, params={k: v.pk for k, v in data.items()}
            )

        return confirm_bulk(
            self,  # type: ignore[arg-type]
            request,
            queryset,
            title=title,
            submit_label=submit_label,
            apply=apply,
            counted=bulk.counted,
            form_class=form_class,
            destructive=destructive,
            start=start,
        )

    @admin.action(description="Add a tag to the selected chat users", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse | None:
        return self._confirm(
            request,
            queryset,
            title="Add a tag",
            submit_label="Add the tag",
            kind="chatusers.add_tag",
            action=bulk.add_tag,
            form_class=BulkActionForm,
        )

    @admin.action(description="Remove a tag from the selected chat users", permissions=["change"])
    def remove_tag(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse | None:
        return self._confirm(
            request,
            queryset,
            title="Remove a tag",
            submit_label="Remove the tag",
            kind="chatusers.remove_tag",
            action=bulk.remove_tag,
            form_class=BulkActionForm,
        )

    @admin.action(description="Push the selected chat users to Userbot now", permissions=["change"])
    def push_now(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse | None:
        if on_everything(request):
            operation = start_on_everything(
                request, queryset, kind="chatusers.push_now", title="Push to Userbot now"
            )
            return HttpResponseRedirect(progress_url(operation))
        self.message_user(request, bulk.push_now(chatusers=queryset, actor=request.user), messages.SUCCESS)
        return None

    @admin.action(description="Delete the selected chat users", permissions=["delete"])
    def delete_chatusers(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse | None:
        return self._confirm(
            request,
            queryset,
            title="Delete chat users",
            submit_label="Yes, delete them",
            kind="chatusers.delete",
            action=bulk.delete,
            destructive=True,
        )

    @admin.action(description="Export the selected chat users as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> HttpResponse:
        # Nothing changes, so no confirmation: the file is the answer, and the history
        # records who took it. Everything the list matches is written by a worker, for the
        # operator to download from the operation's page.
        if on_everything(request):
            operation = start_on_everything(request, queryset, kind="chatusers.export", title="Export as CSV")
            return HttpResponseRedirect(progress_url(operation))
        lines = chatusers_export(
            chatusers=queryset, actor=request.user, scope=scope_words(request, "chat user")
        )
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="chatusers-{stamp}.csv"'
        return response
