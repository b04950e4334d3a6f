"""What every admin page of the chat user domain shares."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.text import Truncator

SYNC_FIELDS = ("sync_state", "synced_at", "short_sync_error")


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

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list:
        return []


class SyncColumnsMixin:
    """The sync bookkeeping every synced model's list shows: state, last synced, last error."""

    @admin.display(description="last sync error")
    def short_sync_error(self, obj: Any) -> str:
        return Truncator(obj.sync_error).chars(80)
