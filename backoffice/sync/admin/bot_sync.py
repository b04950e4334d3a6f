"""Each bot's sync page: its policies, how its queue and last runs are doing, push and pull now.

The list is over ``BotSync`` rows, which the list makes first for bots that have none (in
two statements), so it costs a fixed number of queries whatever the number of bots: the
queue, dead-letter and conflict figures are subqueries of the one list query.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from backoffice.audit import record
from backoffice.sync import services
from backoffice.sync.admin.common import since, when
from backoffice.sync.kinds import SKIPPED
from backoffice.sync.models import BotSync, SyncConflict
from backoffice.sync.selectors import bot_syncs_with_status
from backoffice.synced_admin import ServiceWritesMixin

STATUS_FIELDS = (
    "queue",
    "oldest_pending",
    "dead_letters",
    "conflicts",
    "pull_started",
    "pull_finished",
    "pull_error",
    "last_pull_report",
    "push_finished",
    "push_error",
    "reconnects",
)


@admin.register(BotSync)
class BotSyncAdmin(ServiceWritesMixin, admin.ModelAdmin):
    list_display = [
        "bot",
        "conflict_policy",
        "queue",
        "oldest_pending",
        "dead_letters",
        "conflicts",
        "last_pull",
        "last_push",
        "reconnects",
    ]
    list_select_related = ["bot"]
    # No filters or search: a handful of bots, and the list's width goes to the figures.
    ordering = ["bot__name", "bot_id"]
    fieldsets = [
        (None, {"fields": ["bot", "conflict_policy", "on_remote_delete", "pull_interval_s"]}),
        ("Status", {"fields": list(STATUS_FIELDS)}),
    ]
    readonly_fields = ["bot", *STATUS_FIELDS]
    actions = ["push_now", "pull_now"]

    # --- rows: one per bot, with their status -------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[BotSync]:
        return bot_syncs_with_status(super().get_queryset(request))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if self.has_view_or_change_permission(request):
            services.bot_syncs_create_missing()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every bot has one, made with the defaults

    def has_delete_permission(self, request: HttpRequest, obj: BotSync | None = None) -> bool:
        return False

    # --- columns ------------------------------------------------------------------------

    @admin.display(description="queued", ordering="queue_depth")
    def queue(self, obj: BotSync) -> int:
        return obj.queue_depth

    @admin.display(description="oldest pending", ordering="oldest_pending_at")
    def oldest_pending(self, obj: BotSync) -> str:
        return since(obj.oldest_pending_at) or self.get_empty_value_display()

    @admin.display(description="dead letters", ordering="dead_count")
    def dead_letters(self, obj: BotSync) -> str:
        url = reverse("admin:sync_outboxentry_dead")
        return format_html('<a href="{}?bot__id__exact={}">{}</a>', url, obj.bot_id, obj.dead_count)

    @admin.display(description="open conflicts", ordering="open_conflicts")
    def conflicts(self, obj: BotSync) -> str:
        url = reverse("admin:sync_syncconflict_changelist")
        return format_html(
            '<a href="{}?bot__id__exact={}&amp;resolution__exact={}">{}</a>',
            url,
            obj.bot_id,
            SyncConflict.Resolution.OPEN,
            obj.open_conflicts,
        )

    @admin.display(description="last pull started")
    def pull_started(self, obj: BotSync) -> str:
        return when(obj.pull_started_at) or self.get_empty_value_display()

    @admin.display(description="last pull finished")
    def pull_finished(self, obj: BotSync) -> str:
        return when(obj.pull_finished_at) or self.get_empty_value_display()

    @admin.display(description="last push")
    def push_finished(self, obj: BotSync) -> str:
        return when(obj.push_finished_at) or self.get_empty_value_display()

    @admin.display(description="last pull", ordering="pull_started_at")
    def last_pull(self, obj: BotSync) -> str | None:
        if obj.pull_started_at is None:
            return None
        return format_html(
            "started {}<br>finished {}{}",
            when(obj.pull_started_at),
            when(obj.pull_finished_at) or "-",
            _error(obj.pull_error),
        )

    @admin.display(description="last push", ordering="push_finished_at")
    def last_push(self, obj: BotSync) -> str | None:
        if obj.push_finished_at is None:
            return None
        return format_html("{}{}", when(obj.push_finished_at), _error(obj.push_error))

    @admin.display(description="last pull")
    def last_pull_report(self, obj: BotSync) -> str:
        if not obj.pull_report:
            return self.get_empty_value_display()
        report = dict(obj.pull_report)
        skipped = report.pop(SKIPPED, [])
        counts = format_html_join(
            "",
            "<div>{}: {}</div>",
            (
                (kind, ", ".join(f"{what} {n}" for what, n in sorted(counts.items())))
                for kind, counts in sorted(report.items())
            ),
        )
        if not skipped:
            return counts
        # Objects of Userbot's that failed the checks: which, in which field, and why (the
        # first ones of the run; the counts above say how many in all).
        rows = format_html_join(
            "",
            "<li>{} <code>{}</code>: {}</li>",
            (
                (entry.get("kind", ""), entry.get("id") or "(no id)", entry.get("reason", ""))
                for entry in skipped
            ),
        )
        return format_html(
            '{}<div class="sync-skipped">Skipped from Userbot (the first {}):<ul>{}</ul></div>',
            counts,
            len(skipped),
            rows,
        )

    # --- policies: written through the service ------------------------------------------

    def save_model(self, request: HttpRequest, obj: BotSync, form: ModelForm, change: bool) -> None:
        current = BotSync.objects.get(pk=obj.pk)
        services.bot_sync_update(
            bot_sync=current,
            actor=request.user,
            **{field: form.cleaned_data[field] for field in services.BOT_SYNC_FIELDS},
        )

    # --- push now, pull now -------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any, name: str) -> URLPattern:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(require_POST(function)),
                name=f"sync_botsync_{name}",
            )

        return [view(self.push_view, "push"), view(self.pull_view, "pull"), *super().get_urls()]

    def push_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._run_now(request, object_id, "push")

    def pull_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._run_now(request, object_id, "pull")

    def _run_now(self, request: HttpRequest, object_id: str, run: str) -> HttpResponse:
        bot_sync = get_object_or_404(BotSync.objects.select_related("bot"), pk=unquote(object_id))
        if not self.has_change_permission(request, bot_sync):
            raise PermissionDenied
        self._queue(request, [bot_sync], run)
        return HttpResponseRedirect(reverse("admin:sync_botsync_change", args=[bot_sync.pk]))

    def _queue(self, request: HttpRequest, bot_syncs: list[BotSync], run: str) -> None:
        start = services.sync_push_now if run == "push" else services.sync_pull_now
        for bot_sync in bot_syncs:
            start(bot=bot_sync.bot)
            record(actor=request.user, obj=bot_sync, action="change", message=f"{run.capitalize()} requested")
        names = ", ".join(str(b.bot) for b in bot_syncs)
        self.message_user(request, f"A {run} of {names} is queued.", messages.SUCCESS)

    @admin.action(description="Push the selected bots now", permissions=["change"])
    def push_now(self, request: HttpRequest, queryset: QuerySet[BotSync]) -> None:
        self._queue(request, list(queryset.select_related("bot")), "push")

    @admin.action(description="Pull the selected bots now", permissions=["change"])
    def pull_now(self, request: HttpRequest, queryset: QuerySet[BotSync]) -> None:
        self._queue(request, list(queryset.select_related("bot")), "pull")


def _error(message: str) -> str:
    if not message:
        return ""
    return format_html(
        '<br><span class="sync-error" title="{}">{}</span>', message, Truncator(message).chars(80)
    )
