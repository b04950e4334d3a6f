"""Segments: a filter builder that counts the matching chat users as the filters change,
offers the values the bot knows, and a list that says how many each segment holds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.forms import ModelForm
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from backoffice.admin_site.dates import moment_html
from backoffice.sync.admin.conflicts import ConflictNoticeMixin
from backoffice.synced_admin import (
    SYNC_COLUMNS,
    BotFixedInFormMixin,
    OnlyBotPreselectedMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    adopt_saved,
)
from backoffice.userbot.models import Bot
from chatusers import services
from chatusers.admin.chatuser_filters import languages_in_use
from chatusers.models import BotVariable, Channel, ChatUser, Segment, SegmentFilter, Tag
from chatusers.selectors import segment_condition, segment_count, segment_queryset

# A segment's count, in the list and on its page, is kept this long, keyed by the segment's
# last change: a count is a pass over the bot's chat users, a list shows up to a hundred
# segments, and a team of operators opens the same segments all day. The builder's live
# count (``count_view``) is always counted afresh.
LIST_COUNT_TTL_S = 60
FILTER_KEYS = ("field", "op", "value", "name")


class SegmentFilterForm(forms.ModelForm):
    class Meta:
        model = SegmentFilter
        fields = ["field", "op", "value", "name"]
        # Plain inputs sized to their usual content: the admin's default text input is 610 px
        # wide, and two of them in one row overflow a 1280 px window. The page's script
        # offers the bot's values (channels, languages, tags) and variable names in them.
        widgets = {
            "value": forms.TextInput(attrs={"size": 20, "autocomplete": "off"}),
            "name": forms.TextInput(attrs={"size": 14, "autocomplete": "off"}),
        }


class SegmentFilterInline(admin.TabularInline):
    model = SegmentFilter
    form = SegmentFilterForm
    fields = ["field", "op", "value", "name"]
    extra = 1


class SegmentChangeList(ChangeList):
    """The list's segments with ``matching``: how many chat users each holds, the page's
    uncached counts in one query whatever the number of segments."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        segments = list(self.result_list)
        keys = {s.pk: count_key(s) for s in segments}
        counts = cache.get_many(list(keys.values()))
        missing = [s for s in segments if keys[s.pk] not in counts]
        if missing:
            counted = ChatUser.objects.filter(bot_id__in={s.bot_id for s in missing}).aggregate(
                **{
                    f"s{s.pk}": Count(
                        "pk",
                        filter=Q(bot_id=s.bot_id)
                        & segment_condition(match=s.match, filters=list(s.filters.all())),
                    )
                    for s in missing
                }
            )
            now = timezone.now()
            fresh = {keys[s.pk]: (counted[f"s{s.pk}"], now) for s in missing}
            cache.set_many(fresh, LIST_COUNT_TTL_S)
            counts.update(fresh)
        for segment in segments:
            segment.matching = counts[keys[segment.pk]][0]
        self.result_list = segments


def count_key(segment: Segment) -> str:
    """The cache key of a segment's count as of its last change: (count, when counted)."""
    return f"chatusers:segment-count:{segment.pk}:{segment.updated_at.timestamp()}"


@admin.register(Segment)
class SegmentAdmin(
    ConflictNoticeMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    OnlyBotPreselectedMixin,
    BotFixedInFormMixin,
    admin.ModelAdmin,
):
    list_display = ["name", "chatusers_matching", "match", "bot", "updated_at", *SYNC_COLUMNS]
    list_select_related = ["bot"]
    list_filter = ["bot", "sync_state"]
    search_fields = ["name"]
    fields = ["bot", "name", "match"]
    readonly_fields = ["matching_now", "remote_id", "client_ref", "sync_state", "synced_at", "sync_error"]
    inlines = [SegmentFilterInline]
    change_form_template = "admin/chatusers/segment/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("filters")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SegmentChangeList

    @admin.display(description="chat users")
    def chatusers_matching(self, obj: Segment) -> int | str:
        return getattr(obj, "matching", "-")

    @admin.display(description="chat users matching")
    def matching_now(self, obj: Segment) -> str:
        key = count_key(obj)
        counted = cache.get(key)
        if counted is None:
            counted = (segment_count(segment=obj), timezone.now())
            cache.set(key, counted, LIST_COUNT_TTL_S)
        count, when = counted
        return format_html(
            '<span class="segment-count">{}</span> <span class="quiet">counted {}, kept up to a minute'
            " (the count below follows the filters as they change)</span>",
            count,
            moment_html(when, relative=True),
        )

    # --- the builder's live count and the values it offers ------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any, name: str, route: str) -> URLPattern:
            return path(route, self.admin_site.admin_view(function), name=f"chatusers_segment_{name}")

        return [
            view(require_POST(self.count_view), "count", "count/"),
            view(self.choices_view, "choices", "choices/"),
            *super().get_urls(),
        ]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> Any:
        builder = {
            "segment_count_url": reverse("admin:chatusers_segment_count"),
            "segment_choices_url": reverse("admin:chatusers_segment_choices"),
        }
        return super().changeform_view(request, object_id, form_url, {**builder, **(extra_context or {})})

    def _bot(self, request: HttpRequest, raw: str | None) -> Bot | None:
        if not (self.has_view_permission(request) or self.has_add_permission(request)):
            raise PermissionDenied
        return Bot.objects.filter(pk=raw).first() if raw and raw.isdigit() else None

    def count_view(self, request: HttpRequest) -> JsonResponse:
        """How many of the bot's chat users the filters as posted (the builder's form, not
        saved) match, or what is wrong with a filter."""
        bot = self._bot(request, request.POST.get("bot"))
        if bot is None:
            return JsonResponse({"count": None, "error": "Choose the bot first."})
        filters, errors = _posted_filters(request.POST, bot)
        if errors:
            return JsonResponse({"count": None, "error": " ".join(errors)})
        match = request.POST.get("match") if request.POST.get("match") in Segment.Match.values else "all"
        return JsonResponse(
            {"count": segment_queryset(bot=bot, match=match, filters=filters).count(), "error": ""}
        )

    def choices_view(self, request: HttpRequest) -> JsonResponse:
        """The values the bot knows, by filter field, and its variable names."""
        bot = self._bot(request, request.GET.get("bot"))
        if bot is None:
            return JsonResponse({"values": {}, "variables": []})
        return JsonResponse(
            {
                "values": {
                    "channel": list(Channel.values),
                    "language": languages_in_use(bot_id=bot.pk),
                    "tag": list(Tag.objects.filter(bot=bot).order_by("name").values_list("name", flat=True)),
                },
                "variables": list(
                    BotVariable.objects.filter(bot=bot).order_by("name").values_list("name", flat=True)
                ),
            }
        )

    # --- writes through services ----------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Segment, form: ModelForm, change: bool) -> None:
        # The segment and its filters are written together, in save_related, by one service call.
        return None

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[Any], change: bool) -> None:
        filters = [
            {key: f.cleaned_data.get(key, "") for key in FILTER_KEYS}
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


def _posted_filters(data: Any, bot: Bot) -> tuple[list[dict[str, Any]], list[str]]:
    """The filter rows of the builder's form, checked as a saved filter is; a row left
    blank or marked for deletion is not a filter."""
    filters, errors = [], []
    try:
        total = min(int(data.get("filters-TOTAL_FORMS", "0")), 100)
    except ValueError:
        total = 0
    segment = Segment(bot=bot)
    for index in range(total):
        prefix = f"filters-{index}-"
        if data.get(f"{prefix}DELETE"):
            continue
        values = {key: (data.get(f"{prefix}{key}") or "").strip() for key in FILTER_KEYS}
        if not values["field"] or not values["op"]:
            continue
        row = SegmentFilter(segment=segment, **values)
        try:
            row.full_clean(exclude=["segment", "position"])
        except ValidationError as error:
            errors.append(f"Filter {index + 1}: {' '.join(error.messages)}")
            continue
        filters.append({**row.as_dict(), "tag_id": row.tag_id})
    return filters, errors
