"""The lead list and page, built to stay fast at a hundred thousand leads.

The list never counts the whole table (``EstimatedCountPaginator``), searches company and
domain through trigram indexes, filters on indexed columns and the tag rows' ``(key,
lead)`` index, and reads a page's tags in one query. The page reads the lead's visits and
key people from Userbot and keeps them (``leads.details``). Leads are Userbot's: nothing
here adds or deletes one, and tags change through the list's actions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from backoffice.admin_site.dates import moment_html
from backoffice.synced_admin import SYNC_COLUMNS, ServiceWritesMixin, SyncColumnsMixin
from backoffice.userbot.models import Bot
from chatusers.admin.pagination import EstimatedCountPaginator, KeyedPageChangeList
from leads import services
from leads.admin.actions import LeadActionsMixin
from leads.admin.filters import (
    CountryListFilter,
    DomainFilter,
    GoneListFilter,
    RecencyListFilter,
    TagListFilter,
)
from leads.details import lead_details_read, time_on_page
from leads.export import leads_export
from leads.models import Lead, LeadTag
from leads.selectors import CHATUSERS_SHOWN, chatusers_of_domain

TAGS_SHOWN = 5
FIELDS = ("bot", "company", "domain", "country", "visits", "last_visit", "listed", "tag_list")


@admin.register(Lead)
class LeadAdmin(LeadActionsMixin, ServiceWritesMixin, SyncColumnsMixin, admin.ModelAdmin):
    list_display = [
        "company_name",
        "domain",
        "country",
        "visits",
        "last_visit",
        "tag_list",
        "listed",
        *SYNC_COLUMNS,
    ]
    list_display_links = ["company_name"]
    list_filter = [
        "bot",
        RecencyListFilter,
        CountryListFilter,
        TagListFilter,
        GoneListFilter,
        DomainFilter,
        "sync_state",
    ]
    search_fields = ["company", "domain"]
    search_help_text = "Company or domain."
    sortable_by = ["company_name", "visits", "last_visit"]
    list_select_related = ["bot"]
    list_per_page = 100
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["add_tag", "remove_tag", "read_again"]
    fields = FIELDS
    readonly_fields = FIELDS
    change_list_template = "admin/leads/lead/change_list.html"
    change_form_template = "admin/leads/lead/change_form.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[KeyedPageChangeList]:
        return KeyedPageChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lead]:
        tags = LeadTag.objects.only("lead_id", "tag").order_by("pk")
        return super().get_queryset(request).prefetch_related(Prefetch("tag_rows", queryset=tags))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        return None  # nothing on the page is editable; tags change through the list's actions

    # --- columns ------------------------------------------------------------------------

    @admin.display(description="company", ordering="company")
    def company_name(self, lead: Lead) -> str:
        return Truncator(lead.company).chars(80) or "(no name)"

    @admin.display(description="last visit", ordering="last_visit_at")
    def last_visit(self, lead: Lead) -> str | None:
        return moment_html(lead.last_visit_at, relative=True)

    @admin.display(description="tags")
    def tag_list(self, lead: Lead) -> str:
        tags = [Truncator(row.tag).chars(40) for row in lead.tag_rows.all()]
        more = f" and {len(tags) - TAGS_SHOWN} more" if len(tags) > TAGS_SHOWN else ""
        return ", ".join(tags[:TAGS_SHOWN]) + more

    @admin.display(description="on Userbot")
    def listed(self, lead: Lead) -> str:
        if lead.gone_at is None:
            return "listed"
        return format_html('<span class="sync-state error" title="{}">gone</span>', lead.gone_at.isoformat())

    # --- pages --------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("read-again/", view(require_POST(self.read_again_view)), name="leads_lead_read_again"),
            path("export/", view(self.export_view), name="leads_lead_export"),
            *super().get_urls(),
        ]

    def read_again_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a pull of the bot the list shows (every bot, if it shows them all)."""
        if not self.has_change_permission(request):
            return HttpResponse(status=403)
        bots = Bot.objects.all()
        chosen = request.POST.get("bot", "")
        if chosen.isdigit():
            bots = bots.filter(pk=int(chosen))
        count = 0
        for bot in bots:
            services.leads_read_again(bot=bot, actor=request.user)
            count += 1
        self.message_user(
            request,
            f"Reading the leads of {count} bot(s) again: the list changes once it ran.",
            messages.SUCCESS,
        )
        back = reverse("admin:leads_lead_changelist")
        return HttpResponseRedirect(back + (f"?bot__id__exact={chosen}" if chosen.isdigit() else ""))

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The list as CSV, its filters, search and order applied."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        leads = self.get_changelist_instance(request).get_queryset(request)
        filters = [f"{key}={value}" for key, value in request.GET.items()]
        scope = f"filter {', '.join(filters)}" if filters else "no filter"
        response = StreamingHttpResponse(
            leads_export(leads=leads, actor=request.user, scope=scope), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        lead = get_object_or_404(Lead, pk=object_id) if object_id.isdigit() else None
        # Every field is Userbot's: nothing on the page to save.
        context = {"show_save": False, "show_save_and_continue": False, **(extra_context or {})}
        if lead is not None and request.method == "GET":
            context.update(self.details_context(lead))
        return super().change_view(request, object_id, form_url, context)

    def details_context(self, lead: Lead) -> dict[str, Any]:
        read = lead_details_read(lead=lead)
        details = read.details
        visits = [
            {"visit": visit, "stay": time_on_page(visit)} for visit in (details.visits if details else [])
        ]
        chatusers = list(chatusers_of_domain(lead=lead)[: CHATUSERS_SHOWN + 1])
        return {
            "details_read": read,
            "details": details,
            "visits": visits,
            "chatusers": chatusers[:CHATUSERS_SHOWN],
            "more_chatusers": len(chatusers) > CHATUSERS_SHOWN,
        }
