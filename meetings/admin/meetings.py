"""The meetings across chat users: the ones that may have been scheduled first, each with its
two buttons to settle it, then the newest.

A meeting is a record of what was sent, never edited here: it is made from a chat user's
page (``pages``) and settled from this list. The list costs a fixed number of queries (the
chat user and the operator come with each row).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from backoffice.admin_site.dates import exact, moment_html
from backoffice.admin_site.markup import markup
from backoffice.admin_site.readonly import ReadOnlyAdmin
from meetings.admin.pages import MeetingPagesMixin
from meetings.models import Meeting


class ShowFilter(admin.SimpleListFilter):
    title = "show"
    parameter_name = "show"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("upcoming", "Upcoming"),
            ("past", "Past"),
            ("declined", "Declined"),
            ("unknown", "Unknown: may have been scheduled"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Meeting]) -> QuerySet[Meeting]:
        now = timezone.now()
        booked = queryset.filter(kind=Meeting.Kind.SCHEDULE, state=Meeting.State.SCHEDULED)
        match self.value():
            case "upcoming":
                return booked.filter(start__gte=now)
            case "past":
                return booked.filter(start__lt=now)
            case "declined":
                return queryset.filter(kind=Meeting.Kind.DECLINE)
            case "unknown":
                return queryset.filter(state=Meeting.State.UNKNOWN)
        return queryset


@admin.register(Meeting)
class MeetingAdmin(MeetingPagesMixin, ReadOnlyAdmin):
    """Meetings are made from a chat user's page (schedule, decline) and kept as they went."""

    list_display = ["chatuser_link", "when", "invitee_or_reason", "state_badge", "operator", "asked"]
    list_filter = [ShowFilter, "state", "kind", "bot"]
    list_select_related = ["chatuser", "operator"]
    search_fields = ["invitee_email", "chatuser_remote_id"]
    search_help_text = "An invitee's email, or a chat user's Userbot id."
    # Unknown first (an annotation of get_queryset), then the newest.
    ordering = ["-created_at", "-id"]
    sortable_by = ["when", "asked"]
    list_per_page = 100
    readonly_fields = [
        "bot",
        "chatuser",
        "chatuser_remote_id",
        "kind",
        "event_uri",
        "start",
        "end",
        "invitee_email",
        "reason",
        "operator",
        "state",
        "error",
        "created_at",
        "answered_at",
        "sent",
        "answer",
    ]

    class Media:
        css = {"all": ["meetings/meetings.css"]}

    def get_ordering(self, request: HttpRequest) -> list[str]:
        """The meetings that may have been scheduled first, then newest first: ``ordering``
        itself names model fields only (the admin's checks refuse an annotation there)."""
        return ["unknown_first", *self.ordering]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Meeting]:
        unknown_first = Case(
            When(state=Meeting.State.UNKNOWN, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        # Not super()'s: it orders before the annotation exists.
        rows = self.model._default_manager.annotate(unknown_first=unknown_first)
        return rows.order_by(*self.get_ordering(request))

    @admin.display(description="chat user")
    def chatuser_link(self, obj: Meeting) -> SafeString | str:
        if obj.chatuser is None:
            return f"(deleted: {obj.chatuser_remote_id})"
        url = reverse("admin:chatusers_chatuser_change", args=[obj.chatuser_id])
        return markup('<a href="{}">{}</a>', url, str(obj.chatuser))

    @admin.display(description="when", ordering="start")
    def when(self, obj: Meeting) -> SafeString | str:
        if obj.start is None or obj.end is None:
            return "(a decline)"
        return markup("{}<br>to {}", exact(obj.start), timezone.localtime(obj.end).strftime("%H:%M"))

    @admin.display(description="with / why")
    def invitee_or_reason(self, obj: Meeting) -> SafeString | str:
        if obj.kind == Meeting.Kind.DECLINE:
            return obj.reason[:120] or "(no reason)"
        return markup(
            '{}<br><a href="{}" rel="noopener noreferrer">event link</a>', obj.invitee_email, obj.event_uri
        )

    def get_list_display(self, request: HttpRequest) -> list[str]:
        """Those who may settle a meeting see its two buttons beside its state."""
        if request.user.has_perm("meetings.change_meeting"):
            return [name if name != "state_badge" else "state_to_settle" for name in self.list_display]
        return list(self.list_display)

    @admin.display(description="state")
    def state_badge(self, obj: Meeting) -> SafeString:
        badge = markup(
            '<span class="meeting-state {}" title="{}">{}</span>',
            obj.state,
            obj.error,
            obj.get_state_display(),
        )
        if obj.state == Meeting.State.FAILED and obj.error:
            return markup('{}<div class="meeting-error">{}</div>', badge, obj.error[:300])
        return badge

    @admin.display(description="state")
    def state_to_settle(self, obj: Meeting) -> SafeString:
        badge = self.state_badge(obj)
        if obj.state != Meeting.State.UNKNOWN:
            return badge
        # The changelist's own form carries the CSRF token; each button posts it to the settle page.
        url = reverse("admin:meetings_meeting_settle", args=[obj.pk])
        return markup(
            '{}<div class="meeting-settle">'
            '<button type="submit" formaction="{}" name="scheduled" value="1">It was scheduled</button> '
            '<button type="submit" formaction="{}" name="scheduled" value="0">It was not scheduled</button>'
            "</div>",
            badge,
            url,
            url,
        )

    @admin.display(description="asked", ordering="created_at")
    def asked(self, obj: Meeting) -> str:
        return moment_html(obj.created_at, relative=True) or "-"
