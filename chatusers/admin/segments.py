"""Segments: a filter builder, and how many chat users match now."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from backoffice.synced_admin import (
    SYNC_COLUMNS,
    BotFixedInFormMixin,
    ConflictNoticeMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    adopt_saved,
)
from chatusers import services
from chatusers.models import Segment, SegmentFilter
from chatusers.selectors import segment_count


class SegmentFilterForm(forms.ModelForm):
    class Meta:
        model = SegmentFilter
        fields = ["field", "op", "value", "name"]
        # Plain inputs sized to their usual content: the admin's default text input is 610 px
        # wide, and two of them in one row overflow a 1280 px window.
        widgets = {
            "value": forms.TextInput(attrs={"size": 24}),
            "name": forms.TextInput(attrs={"size": 16}),
        }


class SegmentFilterInline(admin.TabularInline):
    model = SegmentFilter
    form = SegmentFilterForm
    fields = ["field", "op", "value", "name"]
    extra = 1


@admin.register(Segment)
class SegmentAdmin(
    ConflictNoticeMixin, ServiceWritesMixin, SyncColumnsMixin, BotFixedInFormMixin, admin.ModelAdmin
):
    list_display = ["name", "match", "bot", "updated_at", *SYNC_COLUMNS]
    list_select_related = ["bot"]
    list_filter = ["bot", "sync_state"]
    search_fields = ["name"]
    fields = ["bot", "name", "match"]
    readonly_fields = ["matching_now", "remote_id", "client_ref", "sync_state", "synced_at", "sync_error"]
    inlines = [SegmentFilterInline]

    @admin.display(description="chat users matching now")
    def matching_now(self, obj: Segment) -> int:
        return segment_count(segment=obj)

    def save_model(self, request: HttpRequest, obj: Segment, form: ModelForm, change: bool) -> None:
        # The segment and its filters are written together, in save_related, by one service call.
        return None

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[Any], change: bool) -> None:
        filters = [
            {key: f.cleaned_data.get(key, "") for key in ("field", "op", "value", "name")}
            for formset in formsets
            for f in formset.forms
            if f.has_changed() or f.instance.pk
            if f not in formset.deleted_forms and f.cleaned_data
        ]
        obj = form.instance
        if change:
            current = Segment.objects.get(pk=obj.pk)
            services.segment_update(
                segment=current, actor=request.user, name=obj.name, match=obj.match, filters=filters
            )
            return
        segment = services.segment_create(
            bot=obj.bot, name=obj.name, match=obj.match, filters=filters, actor=request.user
        )
        adopt_saved(obj, segment)

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        services.segment_delete(segment=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for segment in queryset:
            services.segment_delete(segment=segment, actor=request.user)
