"""The lead list's actions: add or remove a tag (on the selection, or on every lead the
filters and search match, confirmed with its count), read the leads again, and export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from backoffice.admin_site.bulk import confirm_bulk, start_on_everything
from backoffice.operations.models import Operation
from backoffice.userbot.models import Bot
from leads import operations as tagging
from leads import services
from leads.models import Lead
from leads.tags import TAG_MAX, clean_tag


class TagForm(forms.Form):
    # No max_length: ``clean_tag`` refuses a long tag saying how long it is.
    tag = forms.CharField(
        strip=False,
        help_text=f"1 to {TAG_MAX} characters; tags compare in any case, as on Userbot.",
    )

    def clean_tag(self) -> str:
        try:
            return clean_tag(self.cleaned_data["tag"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


class LeadActionsMixin:
    """Tag actions through ``leads.services``; Django's delete action is not offered (leads
    are Userbot's)."""

    admin_site: Any
    media: Any
    model: type[Lead]
    message_user: Callable[..., None]

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet[Lead],
        *,
        title: str,
        submit_label: str,
        kind: str,
        action: Callable[..., str],
    ) -> HttpResponse | None:
        """Show how many leads the action will change and ask for the tag; apply it once
        given, here for a selection, in a worker for every lead the list matches."""

        def start(leads: QuerySet[Lead], data: dict[str, Any]) -> Operation:
            named = f"{title} “{data['tag']}”"
            return start_on_everything(request, leads, kind=kind, title=named, params={"tag": data["tag"]})

        return confirm_bulk(
            self,  # type: ignore[arg-type]
            request,
            queryset,
            title=title,
            submit_label=submit_label,
            apply=lambda leads, data: action(leads=leads, tag=data["tag"], actor=request.user),
            counted=tagging.counted,
            form_class=TagForm,
            start=start,
        )

    @admin.action(description="Add a tag to the selected leads", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse | None:
        return self._confirm(
            request,
            queryset,
            title="Add a tag",
            submit_label="Add the tag",
            kind="leads.add_tag",
            action=tagging.add_tag,
        )

    @admin.action(description="Remove a tag from the selected leads", permissions=["change"])
    def remove_tag(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse | None:
        return self._confirm(
            request,
            queryset,
            title="Remove a tag",
            submit_label="Remove the tag",
            kind="leads.remove_tag",
            action=tagging.remove_tag,
        )

    @admin.action(description="Read the leads of the selected leads' bots again", permissions=["change"])
    def read_again(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        bots = Bot.objects.filter(pk__in=queryset.values("bot_id"))
        for bot in bots:
            services.leads_read_again(bot=bot, actor=request.user)
        self.message_user(request, f"A pull of {len(bots)} bot(s) was queued: the list changes once it ran.")
