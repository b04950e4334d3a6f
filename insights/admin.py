"""The insights pages of the admin: a bot's numbers over a range, drawn from the stored rows
alone, their CSV exports, and "Refresh now", which reads the range from Userbot again.

They hang off the days' activity admin (``get_urls``), so they sit in the admin's
navigation and permissions: reading them needs the view permission of every insights table
they draw (operators and viewers hold them). Refreshing needs the same: it only reads what
the hourly collection reads, and changes nothing on Userbot.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from backoffice.admin_site.readonly import ReadOnlyAdmin
from backoffice.userbot.models import Bot
from insights import admin_page, admin_tables
from insights.admin_csv import csv_response
from insights.admin_markup import table_html
from insights.admin_range import PRESETS, choose_range
from insights.admin_reads import range_feedback
from insights.models import DayStats, InsightsState
from insights.ranges import RangeRefused, utc_today
from insights.selectors import insights_states
from insights.services import RefreshFailed, insights_refresh, insights_refresh_account

VIEW = tuple(
    f"insights.view_{name}"
    for name in ("daystats", "daynps", "daysales", "rangetotals", "audience", "accountbots")
)
VIEW_FEEDBACK = "chatusers.view_feedback"


def can_view_insights(user: Any) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perms(VIEW))


@admin.register(DayStats)
class InsightsAdmin(ReadOnlyAdmin):
    """The list page is the bots' insights; each bot's page shows its range."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("", view(self.bots), name="insights_daystats_changelist"),
            path("<int:bot_id>/", view(self.bot_page), name="insights_bot"),
            path("<int:bot_id>/refresh/", view(require_POST(self.refresh)), name="insights_refresh"),
            path("<int:bot_id>/<slug:key>.csv", view(self.export), name="insights_export"),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}

    def bots(self, request: HttpRequest) -> HttpResponse:
        _require_view(request)
        bots = list(Bot.objects.order_by("name", "pk"))
        states = insights_states(bots=bots)
        context = {
            **self._context(request, "Insights"),
            "bots": [(bot, states.get(bot.pk)) for bot in bots],
        }
        return TemplateResponse(request, "insights/bots.html", context)

    def bot_page(self, request: HttpRequest, bot_id: int) -> HttpResponse:
        _require_view(request)
        bot = get_object_or_404(Bot, pk=bot_id)
        choice = choose_range(request.GET, today=utc_today())
        context = {
            **self._context(request, f"Insights of {bot.name}"),
            "bot": bot,
            "choice": choice,
            "presets": [(key, label, f"?{urlencode({'preset': key})}") for key, label in PRESETS.items()],
            "state": insights_states(bots=[bot]).get(bot.pk),
        }
        if choice.range is not None:
            context.update(_range_context(request, bot, choice.range))
        return TemplateResponse(request, "insights/bot.html", context)

    def refresh(self, request: HttpRequest, bot_id: int) -> HttpResponse:
        """Read the range from Userbot again (and the account's bots over it), then show the
        page: on a failure, the numbers stored before and why they were not refreshed."""
        _require_view(request)
        bot = get_object_or_404(Bot, pk=bot_id)
        choice = choose_range(request.POST, today=utc_today())
        page = reverse("admin:insights_bot", args=[bot.pk])
        if choice.range is None:
            messages.error(request, "Could not refresh: " + " ".join(choice.errors))
            raw = {k: request.POST.get(k, "")[:20] for k in ("preset", "from", "to") if request.POST.get(k)}
            return HttpResponseRedirect(f"{page}?{urlencode(raw)}")
        chosen = choice.range
        back = HttpResponseRedirect(f"{page}?{chosen.querystring()}")
        try:
            report = insights_refresh(bot=bot, start=chosen.start, end=chosen.end)
        except (RefreshFailed, RangeRefused) as exc:
            messages.error(request, f"Could not refresh: {exc}. The numbers shown are those stored before.")
            return back
        try:
            insights_refresh_account(start=chosen.start, end=chosen.end)
        except (RefreshFailed, RangeRefused) as exc:
            messages.warning(request, f"Could not refresh the account's bots: {exc}.")
        problems = (
            f"; {len(report.problems)} answers were not valid and are shown as such"
            if report.problems
            else ""
        )
        unanswered = f"; Userbot did not answer {len(report.unanswered)} days" if report.unanswered else ""
        summary = f"Refreshed {chosen.start} to {chosen.end} from Userbot{problems}{unanswered}."
        _log(request, bot, summary)
        messages.success(request, summary)
        return back

    def export(self, request: HttpRequest, bot_id: int, key: str) -> HttpResponse:
        """One table as CSV: the cells its table view shows, for the same range and order."""
        _require_view(request)
        bot = get_object_or_404(Bot, pk=bot_id)
        if key not in admin_page.TABLES:
            raise Http404("No such table.")
        choice = choose_range(request.GET, today=utc_today())
        if choice.range is None:
            return HttpResponse(" ".join(choice.errors), status=400, content_type="text/plain; charset=utf-8")
        reads = admin_page.PageReads(bot=bot, chosen=choice.range, bot_sort=request.GET.get("sort", ""))
        name = f"insights-{bot.sitekey}-{key}-{choice.range.start}-{choice.range.end}.csv"
        return csv_response(reads.table(key), filename=name)


def _require_view(request: HttpRequest) -> None:
    if not can_view_insights(request.user):
        raise PermissionDenied


def _range_context(request: HttpRequest, bot: Bot, chosen: admin_page.PageRange) -> dict[str, Any]:
    sort = request.GET.get("sort", "")
    reads = admin_page.PageReads(bot=bot, chosen=chosen, bot_sort=sort)
    tables = reads.tables()
    export = reverse("admin:insights_export", args=[bot.pk, "KEY"])
    query = chosen.querystring(**({"sort": reads.bot_sort} if sort else {}))
    shown = {
        key: {
            "table": table,
            "html": table_html(
                table, sort_urls=_sort_urls(chosen, reads.bot_sort) if key == "bots" else None
            ),
            "csv": f"{export.replace('KEY', key)}?{query}",
        }
        for key, table in tables.items()
    }
    feedback = None
    if request.user.has_perm(VIEW_FEEDBACK):
        number = request.GET.get("feedback_page", "1")
        page = int(number) if number.isdigit() and len(number) < 6 else 1
        feedback = range_feedback(bot=bot, start=chosen.start, end=chosen.end, page=page)
    return {
        "range": chosen,
        "tables": shown,
        "page_data": {"charts": {key: t.chart_data() for key, t in tables.items() if t.chart}},
        "totals": admin_page.total_lines(reads),
        "check": reads.check,
        "nps": admin_page.nps_summary(reads),
        "sales": admin_page.sales_summary(reads),
        "audience": reads.audience,
        "account": reads.account,
        "feedback": feedback,
        "feedback_query": chosen.querystring(),
        "refresh_url": reverse("admin:insights_refresh", args=[bot.pk]),
    }


def _sort_urls(chosen: admin_page.PageRange, current: str) -> dict[str, tuple[str, str]]:
    """Per sortable column key, the URL that sorts by it (descending first, then flipping) and
    how the table is sorted by it now (``ascending``, ``descending`` or "")."""
    urls = {}
    for key in admin_tables.BOT_SORTS:
        state = "descending" if current == f"-{key}" else "ascending" if current == key else ""
        target = key if state == "descending" else f"-{key}"
        urls[key] = (f"?{chosen.querystring(sort=target)}#bots", state)
    return urls


def _log(request: HttpRequest, bot: Bot, message: str) -> None:
    """Keep the refresh in the admin's history, on the bot's insights collection."""
    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type=ContentType.objects.get_for_model(InsightsState),
        object_id=str(bot.pk),
        object_repr=f"Insights of {bot.name}"[:200],
        action_flag=CHANGE,
        change_message=message[:2000],
    )
