"""The chat user list's columns.

Columns are plain methods where the generic cell is costly at 500 rows a page: a choices
field flattens its choices for every cell, a date goes through localisation. Long text is
cut to fit, with the whole of it in the tooltip.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import helpers
from django.utils.html import format_html, format_html_join

from backoffice.admin_site.dates import moment_html
from chatusers.models import ChatUser

SYNC_STATE_LABELS = dict(ChatUser._meta.get_field("sync_state").flatchoices)


class ChatUserColumnsMixin:
    """The columns an operator picks from (ColumnChoiceMixin), and the row's checkbox."""

    def action_checkbox(self, obj: ChatUser) -> str:
        # The same markup as the admin's checkbox widget, without a template render per row.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            f"Select this object for an action - {obj}",
        )

    @admin.display(description="chat user")
    def display_name(self, obj: ChatUser) -> str:
        # The name and, beneath it, the email: one column for who it is, as operator tools
        # list people, each part cut to fit with the whole of it in the tooltip.
        name = str(obj)
        if not obj.email or obj.email == name:
            return format_html('<span class="who"><span class="cut" title="{}">{}</span></span>', name, name)
        return format_html(
            '<span class="who"><span class="cut" title="{}">{}</span><br>'
            '<span class="cut quiet" title="{}">{}</span></span>',
            name,
            name,
            obj.email,
            obj.email,
        )

    @admin.display(description="email", ordering="email")
    def short_email(self, obj: ChatUser) -> str:
        if not obj.email:
            return "-"
        return format_html('<span class="cut" title="{}">{}</span>', obj.email, obj.email)

    @admin.display(description="language", ordering="language")
    def language_code(self, obj: ChatUser) -> str:
        return obj.language

    @admin.display(description="tags")
    def tag_names(self, obj: ChatUser) -> str:
        return format_html_join(
            "",
            '<span class="tag-chip" style="--tag-color:{}">{}</span>',
            ((tag.color, tag.name) for tag in obj.tags.all()),
        )

    @admin.display(description="last seen", ordering="last_seen_at")
    def last_seen(self, obj: ChatUser) -> str | None:
        return moment_html(obj.last_seen_at, relative=True)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: ChatUser) -> str | None:
        return moment_html(obj.created_at)

    # The sync columns of SyncColumnsMixin, without their ordering: a million chat users
    # sorted by state or by last sync is a sort of the whole table.

    @admin.display(description="sync state")
    def sync_badge(self, obj: ChatUser) -> str:
        return format_html(
            '<span class="sync-state {}">{}</span>', obj.sync_state, SYNC_STATE_LABELS.get(obj.sync_state)
        )

    @admin.display(description="last synced")
    def last_synced(self, obj: ChatUser) -> str | None:
        return moment_html(obj.synced_at, relative=True)
