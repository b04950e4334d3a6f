"""The chat user list's columns, and the page's rows loaded for them in a fixed number of
queries: the chat users, then their tags in one query of plain values.

Columns are plain methods where the generic cell is costly at 500 rows a page: a choices
field flattens its choices for every cell, a date goes through localisation; they write
their markup with ``markup``, format_html's escaping without its per-argument lazy-text
checks. Long text is cut to fit, with the whole of it in the tooltip.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest

from backoffice.admin_site.dates import moment_html
from backoffice.admin_site.markup import markup, markup_join
from backoffice.sync.models import SyncState
from chatusers.admin.pagination import KeyedPageChangeList
from chatusers.models import ChatUser, ChatUserTag

SYNC_STATE_LABELS = dict(SyncState.choices)


class ChatUserChangeList(KeyedPageChangeList):
    """The page's chat users, each with ``tag_chips`` (name and colour, by name) when the
    tags column is shown: one query of values for the page, no Tag objects."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        chatusers = list(self.result_list)
        if "tag_names" in self.list_display and chatusers:
            chips: dict[int, list[tuple[str, str]]] = defaultdict(list)
            carried = (
                ChatUserTag.objects.filter(chatuser_id__in=[chatuser.pk for chatuser in chatusers])
                .order_by("tag__name")
                .values_list("chatuser_id", "tag__name", "tag__color")
            )
            for chatuser_id, name, color in carried:
                chips[chatuser_id].append((name, color))
            for chatuser in chatusers:
                chatuser.tag_chips = chips.get(chatuser.pk, [])
        self.result_list = chatusers


class ChatUserColumnsMixin:
    """The columns an operator picks from (ColumnChoiceMixin), and the row's checkbox."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ChatUserChangeList

    def action_checkbox(self, obj: ChatUser) -> str:
        # The same markup as the admin's checkbox widget, without a template render per row.
        return markup(
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
            return markup('<span class="who"><span class="cut" title="{}">{}</span></span>', name, name)
        return markup(
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
        return markup('<span class="cut" title="{}">{}</span>', obj.email, obj.email)

    @admin.display(description="language", ordering="language")
    def language_code(self, obj: ChatUser) -> str:
        return obj.language

    @admin.display(description="tags")
    def tag_names(self, obj: ChatUser) -> str:
        return markup_join(
            "",
            '<span class="tag-chip" style="--tag-color:{}">{}</span>',
            ((color, name) for name, color in obj.tag_chips),
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
        return markup(
            '<span class="sync-state {}">{}</span>', obj.sync_state, SYNC_STATE_LABELS.get(obj.sync_state)
        )

    @admin.display(description="last synced")
    def last_synced(self, obj: ChatUser) -> str | None:
        return moment_html(obj.synced_at, relative=True)
