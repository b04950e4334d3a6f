"""Tags, the bot's variable catalogue, and feedback."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from backoffice.admin_site.readonly import ReadOnlyAdmin
from backoffice.synced_admin import OnlyBotPreselectedMixin, ServiceWritesMixin
from chatusers import services
from chatusers.models import BotVariable, Feedback, Tag


@admin.register(Tag)
class TagAdmin(ServiceWritesMixin, OnlyBotPreselectedMixin, admin.ModelAdmin):
    list_display = ["name", "swatch", "bot", "remote_id"]
    list_filter = ["bot"]
    list_select_related = ["bot"]
    search_fields = ["name"]
    fields = ["bot", "name", "color"]

    def get_readonly_fields(self, request: HttpRequest, obj: Tag | None = None) -> list[str]:
        # Userbot never renames, recolours or deletes a tag: once there, it is fixed here too.
        if obj is not None and obj.remote_id:
            return ["bot", "name", "color", "remote_id"]
        return ["bot"] if obj is not None else []

    def get_form(
        self, request: HttpRequest, obj: Tag | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and obj.remote_id:
            form.base_fields.clear()
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Tag | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.remote_id)

    @admin.display(description="colour")
    def swatch(self, obj: Tag) -> str:
        return format_html(
            '<span style="border-left:1.2em solid {}; padding-left:0.3em">{}</span>', obj.color, obj.color
        )

    def save_model(self, request: HttpRequest, obj: Tag, form: ModelForm, change: bool) -> None:
        if not change:
            tag = services.tag_create(bot=obj.bot, name=obj.name, color=obj.color, actor=request.user)
            obj.pk = tag.pk
            obj._state.adding = False
        elif form.changed_data:
            current = Tag.objects.get(pk=obj.pk)
            services.tag_update(tag=current, name=obj.name, color=obj.color, actor=request.user)

    def delete_model(self, request: HttpRequest, obj: Tag) -> None:
        services.tag_delete(tag=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for tag in queryset:
            services.tag_delete(tag=tag, actor=request.user)


@admin.register(BotVariable)
class BotVariableAdmin(ReadOnlyAdmin):
    list_display = ["name", "type", "bot"]
    list_filter = ["bot", "type"]
    list_select_related = ["bot"]
    search_fields = ["name"]


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "rating", "chatuser_link", "comment", "chat_link", "bot"]
    list_filter = ["rating", "bot", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["bot", "chatuser"]
    date_hierarchy = "created_at"
    search_fields = ["comment"]

    @admin.display(description="chat", ordering="session_id")
    def chat_link(self, obj: Feedback) -> str:
        """The live chat the feedback was given in (named by URL: chat users do not import it)."""
        if not obj.session_id:
            return "-"
        url = reverse("admin:livechat_chat", args=[obj.bot_id, obj.session_id])
        return format_html('<a href="{}">{}</a>', url, obj.session_id)

    @admin.display(description="chat user", ordering="chatuser")
    def chatuser_link(self, obj: Feedback) -> str:
        if obj.chatuser is None:
            return obj.chatuser_remote_id or "—"
        url = reverse("admin:chatusers_chatuser_change", args=[obj.chatuser_id])
        return format_html('<a href="{}">{}</a>', url, obj.chatuser)
