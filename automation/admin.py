"""Automated messages in the admin: trigger, delay, conditions, answers and buttons on one page.

The page's forms validate everything first; saving then hands the whole message to one
service call (``automated_message_create`` or ``automated_message_update``), which
replaces conditions and answers as a whole, queues the message for Userbot and records
the change. The admin's own logging is turned off so each change is recorded once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest

from automation.forms import AnswerForm, condition_data, kept_forms
from automation.models import Answer, AutomatedMessage, Condition
from automation.services import (
    EDITABLE_FIELDS,
    automated_message_create,
    automated_message_delete,
    automated_message_update,
)
from backoffice.sync.admin.conflicts import ConflictNoticeMixin
from backoffice.synced_admin import (
    SYNC_COLUMNS,
    OnlyBotPreselectedMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    SyncDetailMixin,
    adopt_saved,
)


class ConditionInline(admin.TabularInline):
    model = Condition
    fields = ["field", "op", "value", "name"]
    extra = 1


class AnswerInline(admin.StackedInline):
    model = Answer
    form = AnswerForm
    fields = ["type", "text", "url"]
    extra = 1
    template = "admin/automation/answer/stacked_with_buttons.html"


@admin.register(AutomatedMessage)
class AutomatedMessageAdmin(
    ConflictNoticeMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    OnlyBotPreselectedMixin,
    SyncDetailMixin,
    admin.ModelAdmin,
):
    list_display = ["name", "trigger", "delay_seconds", "enabled", "bot", *SYNC_COLUMNS]
    list_filter = ["bot", "trigger", "enabled", "sync_state"]
    search_fields = ["name"]
    list_select_related = ["bot"]
    editable_fields = EDITABLE_FIELDS
    inlines = [ConditionInline, AnswerInline]

    def save_model(self, request: HttpRequest, obj: AutomatedMessage, form: ModelForm, change: bool) -> None:
        """Nothing yet: the message is saved with its conditions and answers in ``save_related``."""

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> None:
        by_model = {formset.model: formset for formset in formsets}
        fields: dict[str, Any] = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
        parts: dict[str, Any] = {}
        # A user who may only view the inlines gets no formset for them: leave the parts alone.
        if Condition in by_model:
            parts["conditions"] = [condition_data(f) for f in kept_forms(by_model[Condition])]
        if Answer in by_model:
            parts["answers"] = [f.answer_data() for f in kept_forms(by_model[Answer])]
        if change:
            current = AutomatedMessage.objects.get(pk=form.instance.pk)
            automated_message_update(message=current, actor=request.user, **fields, **parts)
        else:
            created = automated_message_create(
                bot=form.cleaned_data["bot"], actor=request.user, **fields, **parts
            )
            adopt_saved(form.instance, created)

    def delete_model(self, request: HttpRequest, obj: AutomatedMessage) -> None:
        automated_message_delete(message=obj, actor=request.user)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AutomatedMessage]) -> None:
        for message in queryset:
            automated_message_delete(message=message, actor=request.user)
