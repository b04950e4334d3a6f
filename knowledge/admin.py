"""The knowledge base in the admin: search, filter, edit, and bulk enable, disable or delete.

Every save goes through ``knowledge.services``, which queues the change for Userbot and
records it in the object's history; the admin's own logging is turned off so each change
is recorded once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.text import Truncator

from backoffice.sync.admin.conflicts import ConflictNoticeMixin
from backoffice.synced_admin import (
    SYNC_COLUMNS,
    OnlyBotPreselectedMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    SyncDetailMixin,
    adopt_saved,
)
from knowledge.models import Interaction
from knowledge.services import (
    EDITABLE_FIELDS,
    interaction_create,
    interaction_delete,
    interaction_update,
    interactions_delete,
    interactions_set_enabled,
)


class LanguageListFilter(admin.SimpleListFilter):
    """The languages the knowledge base holds (of the bot the list is filtered to), not
    every ISO 639-1 code; "any" for interactions without a language."""

    title = "language"
    parameter_name = "language__exact"  # the field filter's own name, so saved links still work
    ANY = "any"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        interactions = Interaction.objects.order_by()
        bot = request.GET.get("bot__id__exact", "")
        if bot.isdigit():
            interactions = interactions.filter(bot_id=int(bot))
        codes = sorted(set(interactions.values_list("language", flat=True).distinct()))
        return [(code or self.ANY, code or "any language") for code in codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Interaction]) -> QuerySet[Interaction]:
        if self.value() is None:
            return queryset
        return queryset.filter(language="" if self.value() == self.ANY else self.value())


@admin.register(Interaction)
class InteractionAdmin(
    ConflictNoticeMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    OnlyBotPreselectedMixin,
    SyncDetailMixin,
    admin.ModelAdmin,
):
    list_display = ["label", "short_question", "language", "enabled", "bot", *SYNC_COLUMNS]
    list_filter = ["bot", LanguageListFilter, "enabled", "sync_state"]
    search_fields = ["question", "answer", "label"]
    list_select_related = ["bot"]
    editable_fields = EDITABLE_FIELDS
    actions = ["enable_selected", "disable_selected"]

    @admin.display(description="question", ordering="question")
    def short_question(self, interaction: Interaction) -> str:
        return Truncator(interaction.question).chars(80)

    @admin.action(description="Enable selected interactions", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Interaction]) -> None:
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description="Disable selected interactions", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Interaction]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Interaction], *, enabled: bool) -> None:
        selected = queryset.count()
        changed = interactions_set_enabled(interactions=queryset, enabled=enabled, actor=request.user)
        verb = "Enabled" if enabled else "Disabled"
        text = f"{verb} {changed} of {selected} selected interactions."
        self.message_user(request, text, messages.SUCCESS if changed else messages.INFO)

    def save_model(self, request: HttpRequest, obj: Interaction, form: ModelForm, change: bool) -> None:
        data: dict[str, Any] = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
        if change:
            current = Interaction.objects.get(pk=obj.pk)
            interaction_update(interaction=current, actor=request.user, **data)
        else:
            created = interaction_create(bot=form.cleaned_data["bot"], actor=request.user, **data)
            adopt_saved(obj, created)

    def delete_model(self, request: HttpRequest, obj: Interaction) -> None:
        interaction_delete(interaction=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Interaction]) -> None:
        interactions_delete(interactions=queryset, actor=request.user)
