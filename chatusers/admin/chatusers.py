"""The chat user list and page, built to stay fast at a million chat users.

Every list costs a fixed number of queries (tags come in one prefetch), never counts the
whole table (``EstimatedCountPaginator``), filters with choices or the small tag and
segment tables, and searches columns that PostgreSQL indexes with trigrams. Every write
goes through ``chatusers.services``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.cache import cache
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from backoffice.admin_site.columns import ColumnChoiceMixin
from backoffice.admin_site.dates import moment_html
from backoffice.sync import services as sync_services
from backoffice.sync.admin.conflicts import ConflictNoticeMixin
from backoffice.synced_admin import (
    BotFixedInFormMixin,
    OnlyBotPreselectedMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
)
from chatusers import services
from chatusers.admin.pagination import EstimatedCountPaginator
from chatusers.export import chatusers_export
from chatusers.models import BotVariable, ChatUser, ChatUserTag, Segment, Tag, Variable
from chatusers.selectors import segment_condition

# What an operator edits. ``last_seen_at`` is Userbot's to set: shown, never edited (an edit
# form would also round it to the second, and every save would then report it changed).
EDITABLE_FIELDS = ("name", "surname", "email", "phone", "channel", "language")


LANGUAGES_IN_USE_TTL_S = 60
# A loose index scan: each step jumps to the next distinct language along the index that
# leads with it (chatuser_language_created), so the cost follows the number of languages
# in use, not the number of chat users.
_LOOSE_LANGUAGE_SCAN = """
WITH RECURSIVE in_use(language) AS (
    (SELECT language FROM {table} WHERE language > '' ORDER BY language LIMIT 1)
    UNION ALL
    SELECT (SELECT t.language FROM {table} t WHERE t.language > in_use.language ORDER BY t.language LIMIT 1)
    FROM in_use WHERE in_use.language IS NOT NULL
)
SELECT language FROM in_use WHERE language IS NOT NULL
"""


def languages_in_use(*, bot_id: int | None) -> list[str]:
    """The languages chat users have (of one bot, or of all), cached briefly.

    All bots: on PostgreSQL a loose index scan, elsewhere a plain DISTINCT. One bot: no
    index leads with (bot, language), so a DISTINCT over the bot's rows, which the cache
    keeps from running on every page view.
    """
    key = f"chatusers:languages-in-use:{bot_id if bot_id is not None else 'all'}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    if bot_id is None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _LOOSE_LANGUAGE_SCAN.format(table=connection.ops.quote_name(ChatUser._meta.db_table))
            )
            languages = [row[0] for row in cursor.fetchall()]
    else:
        chatusers = ChatUser.objects.exclude(language="")
        if bot_id is not None:
            chatusers = chatusers.filter(bot_id=bot_id)
        languages = list(chatusers.order_by("language").values_list("language", flat=True).distinct())
    cache.set(key, languages, LANGUAGES_IN_USE_TTL_S)
    return languages


class LanguageListFilter(admin.SimpleListFilter):
    """Only the languages in use (of the bot the list is filtered to), not every ISO 639-1 code."""

    title = "language"
    parameter_name = "language__exact"  # the field filter's own name, so saved links still work

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        bot = request.GET.get("bot__id__exact", "")
        return [(code, code) for code in languages_in_use(bot_id=int(bot) if bot.isdigit() else None)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> QuerySet[ChatUser]:
        if self.value() is None:
            return queryset
        return queryset.filter(language=self.value())


class TagListFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Tag.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> QuerySet[ChatUser]:
        if not self.value():
            return queryset
        return queryset.filter(
            Exists(ChatUserTag.objects.filter(chatuser=OuterRef("pk"), tag_id=self.value()))
        )


class SegmentListFilter(admin.SimpleListFilter):
    title = "segment"
    parameter_name = "segment"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Segment.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ChatUser]) -> QuerySet[ChatUser]:
        if not self.value():
            return queryset
        segment = Segment.objects.filter(pk=self.value()).first()
        if segment is None:
            return queryset.none()
        condition = segment_condition(match=segment.match, filters=list(segment.filters.all()))
        return queryset.filter(bot_id=segment.bot_id).filter(condition)


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


class BulkActionForm(forms.Form):
    tag = forms.ModelChoiceField(
        queryset=Tag.objects.all(), help_text="Only chat users of the tag's bot change."
    )


SYNC_STATE_LABELS = dict(ChatUser._meta.get_field("sync_state").flatchoices)


@admin.register(ChatUser)
class ChatUserAdmin(
    ColumnChoiceMixin,
    ConflictNoticeMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    OnlyBotPreselectedMixin,
    BotFixedInFormMixin,
    admin.ModelAdmin,
):
    # Columns are plain methods where the generic cell is costly at 500 rows a page: a
    # choices field flattens its choices for every cell, a date goes through localisation.
    # The usual columns fit a 1400 px screen beside the sidebar and the filters; the
    # operator adds or removes any of them (ColumnChoiceMixin).
    fixed_columns = ["display_name"]
    choosable_columns = [
        "short_email",
        "phone",
        "channel",
        "language_code",
        "tag_names",
        "last_seen",
        "sync_badge",
        "last_synced",
        "short_sync_error",
        "created",
    ]
    default_columns = ["channel", "language_code", "tag_names", "last_seen", "sync_badge"]
    list_display_links = ["display_name"]
    list_select_related = ["bot"]
    list_filter = [
        "bot",
        "channel",
        LanguageListFilter,
        TagListFilter,
        SegmentListFilter,
        "sync_state",
    ]
    # One generated column of name, surname, email and phone (see ChatUser.search_text).
    search_fields = ["search_text"]
    search_help_text = "Part of a name, surname, email or phone."
    sortable_by = ["last_seen", "created"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    fields = ["bot", *EDITABLE_FIELDS]
    readonly_fields = [
        "last_seen_moment",
        "remote_id",
        "client_ref",
        "created_moment",
        "updated_moment",
        "sync_state",
        "synced_moment",
        "sync_error",
    ]
    inlines = [ChatUserTagInline, VariableInline]
    actions = ["add_tag", "remove_tag", "push_now", "delete_chatusers", "export_csv"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatUser]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("tags", queryset=Tag.objects.only("id", "name", "color").order_by("name"))
            )
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by delete_chatusers, which goes through services
        return actions

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
        return super().change_view(
            request, object_id, form_url, {"datalists": datalists, **(extra_context or {})}
        )

    def action_checkbox(self, obj: ChatUser) -> str:
        # The same markup as the admin's checkbox widget, without a template render per row.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            f"Select this object for an action - {obj}",
        )

    # --- columns: long text cut to fit, the whole of it in the tooltip ------------------

    @admin.display(description="chat user")
    def display_name(self, obj: ChatUser) -> str:
        # The name and, beneath it, the email: one column for who it is, as operator tools
        # list people, each part cut to fit with the whole of it in the tooltip.
        name = str(obj)
        if not obj.email or obj.email == name:
            return format_html('<span class="who"><span class="cut" title="{}">{}</span></span>', name, name)
        return format_html(
            '<span class="who"><span class="cut" title="{}">{}</span><br>'
            '<span class="cut quiet" title="{}">{}</span></span>',
            name,
            name,
            obj.email,
            obj.email,
        )

    @admin.display(description="email", ordering="email")
    def short_email(self, obj: ChatUser) -> str:
        if not obj.email:
            return "-"
        return format_html('<span class="cut" title="{}">{}</span>', obj.email, obj.email)

    @admin.display(description="language", ordering="language")
    def language_code(self, obj: ChatUser) -> str:
        return obj.language

    @admin.display(description="last seen", ordering="last_seen_at")
    def last_seen(self, obj: ChatUser) -> str | None:
        return moment_html(obj.last_seen_at, relative=True)

    @admin.display(description="last synced")
    def last_synced(self, obj: ChatUser) -> str | None:
        return moment_html(obj.synced_at, relative=True)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: ChatUser) -> str | None:
        return moment_html(obj.created_at)

    @admin.display(description="sync state")
    def sync_badge(self, obj: ChatUser) -> str:
        return format_html(
            '<span class="sync-state {}">{}</span>', obj.sync_state, SYNC_STATE_LABELS.get(obj.sync_state)
        )

    # --- the change page's read-only moments -----------------------------------------------

    @admin.display(description="last seen")
    def last_seen_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.last_seen_at, relative=True) or "-"

    @admin.display(description="created")
    def created_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.created_at) or "-"

    @admin.display(description="updated")
    def updated_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.updated_at, relative=True) or "-"

    @admin.display(description="last synced")
    def synced_moment(self, obj: ChatUser) -> str:
        return moment_html(obj.synced_at, relative=True) or "-"

    @admin.display(description="tags")
    def tag_names(self, obj: ChatUser) -> str:
        return format_html_join(
            "",
            '<span class="tag-chip" style="--tag-color:{}">{}</span>',
            ((tag.color, tag.name) for tag in obj.tags.all()),
        )

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

    # --- actions: on the selection, or on everything the filters and search match ----

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
        """Show how many chat users the action will change, then apply it once confirmed.

        Only a ``destructive`` action gets the admin's red delete styling.
        """
        form = None
        if form_class is not None:
            form = form_class(request.POST if request.POST.get("post") else None)
        if request.POST.get("post") and (form is None or form.is_valid()):
            message = apply(queryset, form.cleaned_data if form else {})
            self.message_user(request, message, messages.SUCCESS)
            return None
        select_across = request.POST.get("select_across") == "1"
        count = queryset.count()
        scope = "every chat user matching the current filters and search" if select_across else "the selected"
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "summary": f"This applies to {count} chat user{'s' if count != 1 else ''} ({scope}).",
            "form": form,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": select_across,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "submit_label": submit_label,
            "destructive": destructive,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/chatusers/bulk_confirmation.html", context)

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
        chatusers = queryset.prefetch_related(None).only(
            "id", "bot_id", "sync_state", "name", "surname", "email", "phone"
        )
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


# The changelist's own parameters that do not choose which chat users are listed.
_NOT_A_FILTER = {"p", "o", "_changelist_filters"}


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
