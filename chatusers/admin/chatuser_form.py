"""A chat user's own page: its fields, tags and variables, saved through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from backoffice.admin_site.dates import moment_html
from chatusers import services
from chatusers.models import BotVariable, ChatUser, ChatUserTag, Tag, Variable

# What an operator edits. ``last_seen_at`` is Userbot's to set: shown, never edited (an edit
# form would also round it to the second, and every save would then report it changed).
EDITABLE_FIELDS = ("name", "surname", "email", "phone", "channel", "language")


class VariableForm(forms.ModelForm):
    class Meta:
        model = Variable
        fields = ["name", "value"]
        # A value is one line as a rule: a one-row box (a textarea, so a value that does hold
        # a line break keeps it), and a name offered from the bot's variable catalogue.
        widgets = {
            "name": forms.TextInput(attrs={"size": 24, "list": "variable-catalogue", "autocomplete": "off"}),
            "value": forms.Textarea(attrs={"rows": 1, "cols": 48, "class": "one-line"}),
        }


class VariableInline(admin.TabularInline):
    model = Variable
    form = VariableForm
    fields = ["name", "value"]
    extra = 0


class ChatUserTagInline(admin.TabularInline):
    model = ChatUserTag
    fields = ["tag"]
    extra = 0

    def get_formset(self, request: HttpRequest, obj: ChatUser | None = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            formset.form.base_fields["tag"].queryset = Tag.objects.filter(bot_id=obj.bot_id)
        return formset


class ChatUserFormMixin:
    """The change page's datalist of variable names, its read-only moments, and its saves,
    each a service call."""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # The variable names the bot's catalogue knows, offered as the inline's names.
        bot_id = (
            ChatUser.objects.filter(pk=object_id).values_list("bot_id", flat=True).first()
            if object_id.isdigit()
            else None
        )
        names = list(
            BotVariable.objects.filter(bot_id=bot_id).order_by("name").values_list("name", flat=True)
        )
        datalists = {"variable-catalogue": names}
        return super().change_view(  # type: ignore[misc]
            request, object_id, form_url, {"datalists": datalists, **(extra_context or {})}
        )

    # --- the read-only moments ---------------------------------------------------------

    @admin.display(description="last seen")
    def last_seen_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.last_seen_at, relative=True) or "-"

    @admin.display(description="chats")
    def chats_link(self, obj: ChatUser) -> str:
        """The live chats of this chat user (named by URL: chat users do not import live chat)."""
        if not obj.remote_id:
            return "-"
        url = reverse("admin:livechat_bot_inbox", args=[obj.bot_id])
        return format_html('<a href="{}?chatuser={}&amp;status=all">Their chats</a>', url, obj.remote_id)

    @admin.display(description="leads")
    def leads_link(self, obj: ChatUser) -> str:
        """The leads of this chat user's email domain (named by URL: chat users do not import
        leads)."""
        domain = (obj.email or "").rpartition("@")[2].strip()
        if not domain:
            return "-"
        try:
            url = reverse("admin:leads_lead_changelist")
        except NoReverseMatch:
            return "-"
        return format_html('<a href="{}?{}">Leads at {}</a>', url, urlencode({"domain": domain}), domain)

    @admin.display(description="meetings")
    def meetings_link(self, obj: ChatUser) -> str:
        """Schedule a meeting with this chat user, record a decline, or list their meetings
        (named by URL: chat users do not import meetings)."""
        if not obj.remote_id:
            return "Not on Userbot yet: meetings can be booked once it is synced."
        try:
            schedule = reverse("admin:meetings_meeting_schedule", args=[obj.pk])
            decline = reverse("admin:meetings_meeting_decline", args=[obj.pk])
            listed = reverse("admin:meetings_meeting_changelist")
        except NoReverseMatch:
            return "-"
        return format_html(
            '<a href="{}">Schedule a meeting</a> · <a href="{}">Decline</a> · '
            '<a href="{}?chatuser__id__exact={}">Their meetings</a>',
            schedule,
            decline,
            listed,
            obj.pk,
        )

    @admin.display(description="created")
    def created_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.created_at) or "-"

    @admin.display(description="updated")
    def updated_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.updated_at, relative=True) or "-"

    @admin.display(description="sync state")
    def sync_state(self, obj: ChatUser) -> str:
        return obj.get_sync_state_display()

    @admin.display(description="last synced")
    def synced_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.synced_at, relative=True) or "-"

    # --- writes through services ------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: ChatUser, form: ModelForm, change: bool) -> None:
        values = {field: form.cleaned_data.get(field) for field in EDITABLE_FIELDS}
        if not change:
            created = services.chatuser_create(bot=form.cleaned_data["bot"], actor=request.user, **values)
            obj.pk, obj.client_ref, obj.created_at = created.pk, created.client_ref, created.created_at
            obj._state.adding = False
            return
        current = ChatUser.objects.get(pk=obj.pk)
        services.chatuser_update(chatuser=current, actor=request.user, **values)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[Any], change: bool) -> None:
        chatuser = ChatUser.objects.get(pk=form.instance.pk)
        for formset in formsets:
            if formset.model is Variable:
                self._save_variables(request, chatuser, formset)
            elif formset.model is ChatUserTag:
                self._save_tags(request, chatuser, formset)

    def _save_variables(self, request: HttpRequest, chatuser: ChatUser, formset: BaseInlineFormSet) -> None:
        for form in formset.forms:
            old_name = form.instance.name if form.instance.pk else None
            if form in formset.deleted_forms:
                if old_name:
                    services.chatuser_remove_variable(chatuser=chatuser, name=old_name, actor=request.user)
                continue
            if not form.has_changed():
                continue
            name, value = form.cleaned_data["name"], form.cleaned_data.get("value", "")
            if old_name and old_name != name:
                services.chatuser_remove_variable(chatuser=chatuser, name=old_name, actor=request.user)
            services.chatuser_set_variable(chatuser=chatuser, name=name, value=value, actor=request.user)

    def _save_tags(self, request: HttpRequest, chatuser: ChatUser, formset: BaseInlineFormSet) -> None:
        for form in formset.forms:
            old_tag = Tag.objects.get(pk=form.initial["tag"]) if form.initial.get("tag") else None
            deleted = form in formset.deleted_forms
            new_tag = None if deleted else form.cleaned_data.get("tag")
            if old_tag == new_tag:
                continue
            if old_tag is not None:
                services.chatuser_remove_tag(chatuser=chatuser, tag=old_tag, actor=request.user)
            if new_tag is not None:
                services.chatuser_add_tag(chatuser=chatuser, tag=new_tag, actor=request.user)

    def delete_model(self, request: HttpRequest, obj: ChatUser) -> None:
        services.chatuser_delete(chatuser=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> None:
        services.chatusers_delete(chatusers=queryset, actor=request.user)
