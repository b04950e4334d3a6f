"""Each bot's sync page: its policies, how its queue and last runs are doing, push and pull now.

The list is over ``BotSync`` rows, which the list makes first for bots that have none (in
two statements), so it costs a fixed number of queries whatever the number of bots: the
queue, dead-letter and conflict figures are subqueries of the one list query. The pull's
schedule (its pace, when the next is due) is read off the row itself (``BotSync.pull_interval``,
``next_pull_due``), the rule the sweep follows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from backoffice.admin_site.dates import moment_html
from backoffice.audit import record
from backoffice.operations.admin import progress_url
from backoffice.sync import services
from backoffice.sync.admin.common import since, when
from backoffice.sync.kinds import SKIPPED
from backoffice.sync.models import BotSync, SyncConflict
from backoffice.sync.operations import pull_start
from backoffice.sync.selectors import bot_syncs_with_status
from backoffice.synced_admin import ServiceWritesMixin

PULL_STATUS_FIELDS = (
    "pull_pace",
    "next_pull",
    "last_reconciliation",
    "pull_started",
    "pull_error",
    "last_pull_report",
)
PUSH_STATUS_FIELDS = (
    "queue",
    "oldest_pending",
    "dead_letters",
    "conflicts",
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
    readonly_fields = ["bot", *PULL_STATUS_FIELDS, *PUSH_STATUS_FIELDS]
    actions = ["push_now", "pull_now"]

    def get_fieldsets(self, request: HttpRequest, obj: BotSync | None = None) -> list[tuple[str | None, Any]]:
        duty = f"{settings.SYNC_PULL_DUTY:g}"
        pulls = (
            f"Everything is read back from Userbot at the bot's own pace: {duty} times as long as its "
            "last full reconciliation took, so that pulling takes at most a "
            f"{_share(settings.SYNC_PULL_DUTY)} of its time, within the two bounds below."
        )
        return [
            (None, {"fields": ["bot", "conflict_policy", "on_remote_delete"]}),
            (
                "Pulls",
                {
                    "fields": ["pull_interval_s", "pull_interval_max_s", *PULL_STATUS_FIELDS],
                    "description": pulls,
                },
            ),
            ("Pushes", {"fields": list(PUSH_STATUS_FIELDS)}),
        ]

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

    @admin.display(description="last full reconciliation")
    def last_reconciliation(self, obj: BotSync) -> str:
        if obj.pull_finished_at is None:
            return "None yet"
        took = "" if obj.pull_duration_s is None else format_html(", took {}", duration(obj.pull_duration_s))
        return format_html("finished {}{}", when(obj.pull_finished_at), took)

    @admin.display(description="pulled every")
    def pull_pace(self, obj: BotSync) -> str:
        interval = obj.pull_interval.total_seconds()
        took = obj.pull_duration_s
        if took is None:
            why = "No full reconciliation yet: the shortest allowed."
        else:
            paced = settings.SYNC_PULL_DUTY * took
            times = f"{settings.SYNC_PULL_DUTY:g} times the last full reconciliation ({duration(took)})"
            if paced < interval:
                why = f"The shortest allowed: {times} would be {duration(paced)}."
            elif paced > interval:
                why = f"The longest allowed: {times} would be {duration(paced)}."
            else:
                why = f"{times}."
        return format_html('{}<div class="sync-note">{}</div>', duration(interval), why)

    @admin.display(description="next pull")
    def next_pull(self, obj: BotSync) -> str:
        running = _running_for(obj)
        if running is not None:
            return format_html(
                "running since {} ({} so far)", moment_html(obj.pull_started_at), duration(running)
            )
        return _due(obj)

    @admin.display(description="last push")
    def push_finished(self, obj: BotSync) -> str:
        return when(obj.push_finished_at) or self.get_empty_value_display()

    @admin.display(description="pull", ordering="pull_started_at")
    def last_pull(self, obj: BotSync) -> str:
        running = _running_for(obj)
        state = _due(obj) if running is None else format_html("running for {}", duration(running))
        if obj.pull_started_at is None:
            return state
        return format_html(
            "started {}<br>finished {}{}<br>{}",
            when(obj.pull_started_at),
            when(obj.pull_finished_at) or "-",
            _error(obj.pull_error),
            state,
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
        return self._queue(request, [bot_sync], run) or HttpResponseRedirect(
            reverse("admin:sync_botsync_change", args=[bot_sync.pk])
        )

    def _queue(self, request: HttpRequest, bot_syncs: list[BotSync], run: str) -> HttpResponse | None:
        """A push is queued; a pull is started as an operation the operator follows on its
        page (the only one's page, for one bot)."""
        if run == "pull":
            return self._pull(request, bot_syncs)
        for bot_sync in bot_syncs:
            services.sync_push_now(bot=bot_sync.bot)
            record(actor=request.user, obj=bot_sync, action="change", message="Push requested")
        names = ", ".join(str(b.bot) for b in bot_syncs)
        self.message_user(request, f"A push of {names} is queued.", messages.SUCCESS)
        return None

    def _pull(self, request: HttpRequest, bot_syncs: list[BotSync]) -> HttpResponse | None:
        back = reverse("admin:sync_botsync_change", args=[bot_syncs[0].pk]) if len(bot_syncs) == 1 else ""
        started = []
        for bot_sync in bot_syncs:
            record(actor=request.user, obj=bot_sync, action="change", message="Pull requested")
            started.append(
                pull_start(bot=bot_sync.bot, actor=request.user, back_url=back or request.get_full_path())
            )
        if len(started) == 1:
            return HttpResponseRedirect(progress_url(started[0]))
        links = format_html_join(", ", '<a href="{}">{}</a>', ((progress_url(o), o.bot) for o in started))
        self.message_user(
            request, format_html("Pulls started, each on its page: {}.", links), messages.SUCCESS
        )
        return None

    @admin.action(description="Push the selected bots now", permissions=["change"])
    def push_now(self, request: HttpRequest, queryset: QuerySet[BotSync]) -> HttpResponse | None:
        return self._queue(request, list(queryset.select_related("bot")), "push")

    @admin.action(description="Pull the selected bots now", permissions=["change"])
    def pull_now(self, request: HttpRequest, queryset: QuerySet[BotSync]) -> HttpResponse | None:
        return self._queue(request, list(queryset.select_related("bot")), "pull")


def duration(seconds: float) -> str:
    """A duration as the sync page writes it: "0.4 s", "30 s", "2 min 10 s", "1 h 5 min"."""
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _running_for(obj: BotSync) -> float | None:
    """How many seconds the pull holding the bot's lease has run, or None if none does."""
    now = timezone.now()
    if not obj.pull_running(now) or obj.pull_started_at is None:
        return None
    return (now - obj.pull_started_at).total_seconds()


def _due(obj: BotSync) -> str:
    due = obj.next_pull_due
    return "due now" if due is None else format_html("due {}", when(due))


def _share(duty: float) -> str:
    """1 / duty in words where it has a common name ("quarter"), else as a fraction."""
    named = {2.0: "half", 3.0: "third", 4.0: "quarter", 5.0: "fifth", 10.0: "tenth"}
    return named.get(duty, f"1/{duty:g} share")


def _error(message: str) -> str:
    if not message:
        return ""
    return format_html(
        '<br><span class="sync-error" title="{}">{}</span>', message, Truncator(message).chars(80)
    )
