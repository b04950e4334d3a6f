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
from django.utils.text import Truncator

from automation.forms import AnswerForm, condition_data, kept_forms
from automation.models import Answer, AutomatedMessage, Condition
from automation.services import (
    EDITABLE_FIELDS,
    automated_message_create,
    automated_message_delete,
    automated_message_update,
)

SYNC_FIELDS = ["sync_state", "synced_at", "sync_error", "remote_id"]


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


def _adopt(target: AutomatedMessage, saved: AutomatedMessage) -> None:
    """Give the admin's unsaved instance the identity of the one the service saved."""
    for field in target._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


@admin.register(AutomatedMessage)
class AutomatedMessageAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "trigger",
        "delay_seconds",
        "enabled",
        "bot",
        "sync_state",
        "synced_at",
        "short_sync_error",
    ]
    list_filter = ["bot", "trigger", "enabled", "sync_state"]
    search_fields = ["name"]
    list_select_related = ["bot"]
    readonly_fields = SYNC_FIELDS
    inlines = [ConditionInline, AnswerInline]

    @admin.display(description="last error")
    def short_sync_error(self, message: AutomatedMessage) -> str:
        return Truncator(message.sync_error).chars(80)

    def get_fields(self, request: HttpRequest, obj: AutomatedMessage | None = None) -> list[str]:
        return ["bot", *EDITABLE_FIELDS, *SYNC_FIELDS]

    def get_readonly_fields(self, request: HttpRequest, obj: AutomatedMessage | None = None) -> list[str]:
        # A message belongs to its bot on Userbot: it cannot move to another.
        return [*SYNC_FIELDS, "bot"] if obj else SYNC_FIELDS

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
            _adopt(form.instance, created)

    def delete_model(self, request: HttpRequest, obj: AutomatedMessage) -> None:
        automated_message_delete(message=obj, actor=request.user)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AutomatedMessage]) -> None:
        for message in queryset:
            automated_message_delete(message=message, actor=request.user)

    def construct_change_message(self, *args: Any, **kwargs: Any) -> str:
        # The formsets are never saved by the admin itself, so they hold no saved objects
        # to describe; the service writes the change message.
        return ""

    # The services record every change; the admin's own entries would double them.
    def log_addition(self, request: HttpRequest, obj: AutomatedMessage, message: Any) -> None:
        return None

    def log_change(self, request: HttpRequest, obj: AutomatedMessage, message: Any) -> None:
        return None

    def log_deletions(self, request: HttpRequest, queryset: Any) -> None:
        return None
