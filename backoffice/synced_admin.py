"""What the admin of every object mirrored from Userbot shares: writes through services,
and the sync bookkeeping shown read-only beside the object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.text import Truncator

# The columns a changelist of synced objects ends with.
SYNC_COLUMNS = ("sync_state", "synced_at", "short_sync_error")
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

    @admin.display(description="last error")
    def short_sync_error(self, obj: Any) -> str:
        return Truncator(obj.sync_error).chars(80)


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


class ConflictNoticeMixin:
    """A change page that warns of the object's open conflicts with Userbot, linking to them."""

    change_form_template = "admin/sync/change_form_with_conflicts.html"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        from backoffice.sync.admin.conflicts import open_conflicts_context

        if object_id.isdigit():
            notice = open_conflicts_context(self.model, int(object_id))  # type: ignore[attr-defined]
            extra_context = {**notice, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
