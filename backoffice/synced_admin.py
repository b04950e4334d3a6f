"""What the admin of every object mirrored from Userbot shares: writes through services,
and the sync bookkeeping shown read-only beside the object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator

from backoffice.admin_site.dates import moment_html
from backoffice.sync.models import SyncState
from backoffice.userbot.models import Bot

# The columns a changelist of synced objects ends with.
SYNC_COLUMNS = ("sync_badge", "last_synced", "short_sync_error")
SYNC_STATE_LABELS = dict(SyncState.choices)
# The bookkeeping a change page shows below the editable fields; no one edits it by hand.
SYNC_DETAIL_FIELDS = ("sync_state", "synced_at", "sync_error", "remote_id")


def adopt_saved(target: Model, saved: Model) -> None:
    """Give the admin's unsaved instance the identity of the one a service saved, so the
    admin's redirect and messages name the saved object."""
    for field in target._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


class ServiceWritesMixin:
    """For admins whose writes go through services: the services record the history
    (with the same user), so the admin's own LogEntry rows would only repeat them."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> None:
        return None

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> None:
        return None

    def log_deletion(self, request: HttpRequest, obj: Any, object_repr: str) -> None:
        return None

    def log_deletions(self, request: HttpRequest, queryset: Any) -> None:
        return None

    # Inline formsets that a service saves were never saved by the admin, so there is
    # nothing for it to describe (and nothing to log it in).
    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list:
        return []


class SyncColumnsMixin:
    """The sync bookkeeping every synced model's list shows: state, last synced, last error."""

    @admin.display(description="sync state", ordering="sync_state")
    def sync_badge(self, obj: Any) -> str:
        return format_html(
            '<span class="sync-state {}">{}</span>', obj.sync_state, SYNC_STATE_LABELS.get(obj.sync_state)
        )

    @admin.display(description="last synced", ordering="synced_at")
    def last_synced(self, obj: Any) -> str | None:
        return moment_html(obj.synced_at, relative=True)

    @admin.display(description="last error")
    def short_sync_error(self, obj: Any) -> str:
        if not obj.sync_error:
            return ""
        return format_html('<span title="{}">{}</span>', obj.sync_error, Truncator(obj.sync_error).chars(60))


class OnlyBotPreselectedMixin:
    """An add page whose bot is chosen already when there is only one bot to choose."""

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)  # type: ignore[misc]
        if "bot" not in initial:
            bots = list(Bot.objects.values_list("pk", flat=True)[:2])
            if len(bots) == 1:
                initial["bot"] = bots[0]
        return initial


class SyncDetailMixin:
    """A change page of the bot, the fields a service edits, then the sync bookkeeping
    read-only. An object belongs to its bot on Userbot, so once saved it cannot move."""

    editable_fields: Sequence[str] = ()
    readonly_fields: Sequence[str] = SYNC_DETAIL_FIELDS

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return ["bot", *self.editable_fields, *SYNC_DETAIL_FIELDS]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return [*SYNC_DETAIL_FIELDS, "bot"] if obj else list(SYNC_DETAIL_FIELDS)


class BotFixedInFormMixin:
    """A change page that shows the bookkeeping only once the object exists, and keeps the
    bot in the form but disabled: an object cannot move to another bot, and validation
    that needs the bot (per-bot uniqueness) still runs."""

    fields: Sequence[str]
    readonly_fields: Sequence[str]

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return [*self.fields, *self.readonly_fields] if obj else list(self.fields)

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        if obj is not None and "bot" in form.base_fields:
            form.base_fields["bot"].disabled = True
        return form
