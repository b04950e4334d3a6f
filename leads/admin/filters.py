"""The lead list's filters: country, tag, recency of the last visit, listed or gone, and the
domain a chat user's page links with (``?domain=``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from leads.models import Lead, LeadTag
from leads.selectors import distinct_values
from leads.tags import tag_key

# The filters offer at most this many values, in order; any other is reached by its link
# (``?tag=``, ``?country=``).
TAGS_OFFERED = 30
COUNTRIES_OFFERED = 100


class CountryListFilter(admin.SimpleListFilter):
    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(country, country) for country in distinct_values(Lead, "country", limit=COUNTRIES_OFFERED)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        return queryset.filter(country=self.value()) if self.value() else queryset


class TagListFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # A digest key (a tag over 100 characters) is no name to offer.
        keys = distinct_values(LeadTag, "key", limit=TAGS_OFFERED, skip_prefix="#")
        return [(key, key) for key in keys]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        if not self.value():
            return queryset
        return queryset.filter(Exists(LeadTag.objects.filter(lead=OuterRef("pk"), key=tag_key(self.value()))))


class RecencyListFilter(admin.SimpleListFilter):
    title = "last visit"
    parameter_name = "visited_within"
    DAYS = (7, 30, 90)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(days), f"Within {days} days") for days in self.DAYS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        if self.value() not in {str(days) for days in self.DAYS}:
            return queryset
        return queryset.filter(last_visit_at__gte=timezone.now() - timedelta(days=int(self.value())))


class GoneListFilter(admin.SimpleListFilter):
    title = "on Userbot"
    parameter_name = "gone"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Listed"), ("yes", "Gone from Userbot")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        if self.value() in ("yes", "no"):
            return queryset.filter(gone_at__isnull=self.value() == "no")
        return queryset


class DomainFilter(admin.SimpleListFilter):
    """The leads of one email domain (a chat user's page links here); no choices of its own."""

    title = "domain"
    parameter_name = "domain"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        return queryset.filter(domain__iexact=self.value().strip()) if self.value() else queryset
