"""The chat user list's filters: each offers its choices from a small table or a cached
read, never from a scan of a million chat users."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.cache import cache
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from chatusers.models import ChatUser, ChatUserTag, Segment, Tag
from chatusers.selectors import segment_condition

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
