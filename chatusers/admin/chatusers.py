"""The chat user list and page, built to stay fast at a million chat users.

Every list costs a fixed number of queries (tags in one query of values), never counts the
whole table (``EstimatedCountPaginator``), filters with choices or the small tag and
segment tables, searches a column that PostgreSQL indexes with trigrams, and writes its
rows once per column (``{% fast_result_list %}``). Every write goes through
``chatusers.services``. The columns, the filters, the change page and the actions are
modules of their own beside this one.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice.admin_site.columns import ColumnChoiceMixin
from backoffice.sync.admin.conflicts import ConflictNoticeMixin
from backoffice.synced_admin import (
    BotFixedInFormMixin,
    OnlyBotPreselectedMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
)
from chatusers.admin.chatuser_actions import ChatUserActionsMixin
from chatusers.admin.chatuser_columns import ChatUserColumnsMixin
from chatusers.admin.chatuser_feedback import ChatUserFeedbackMixin
from chatusers.admin.chatuser_filters import (
    LanguageListFilter,
    SegmentListFilter,
    TagListFilter,
)
from chatusers.admin.chatuser_form import (
    EDITABLE_FIELDS,
    ChatUserFormMixin,
    ChatUserTagInline,
    VariableInline,
)
from chatusers.admin.chatuser_timeline import ChatUserTimelineMixin
from chatusers.admin.pagination import EstimatedCountPaginator
from chatusers.models import ChatUser


@admin.register(ChatUser)
class ChatUserAdmin(
    ChatUserTimelineMixin,
    ChatUserColumnsMixin,
    ChatUserFormMixin,
    ChatUserFeedbackMixin,
    ChatUserActionsMixin,
    ColumnChoiceMixin,
    ConflictNoticeMixin,
    ServiceWritesMixin,
    SyncColumnsMixin,
    OnlyBotPreselectedMixin,
    BotFixedInFormMixin,
    admin.ModelAdmin,
):
    # The usual columns fit a 1400 px screen beside the sidebar and the filters; the
    # operator adds or removes any of them (ColumnChoiceMixin).
    fixed_columns = ["display_name"]
    choosable_columns = [
        "short_email",
        "phone",
        "channel",
        "language_code",
        "tag_names",
        "last_seen",
        "sync_badge",
        "last_synced",
        "short_sync_error",
        "created",
    ]
    default_columns = ["channel", "language_code", "tag_names", "last_seen", "sync_badge"]
    list_display_links = ["display_name"]
    # No column shows a related object but the sync record, which get_queryset joins: the
    # bot is not a column, and the tags come in one query of their own (ChatUserChangeList).
    list_select_related = ()
    list_filter = [
        "bot",
        "channel",
        LanguageListFilter,
        TagListFilter,
        SegmentListFilter,
        ("sync__sync_state", admin.ChoicesFieldListFilter),
    ]
    # One generated column of name, surname, email and phone (see ChatUser.search_text).
    search_fields = ["search_text"]
    search_help_text = "Part of a name, surname, email or phone."
    sortable_by = ["last_seen", "created"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    fields = ["bot", *EDITABLE_FIELDS]
    readonly_fields = [
        "last_seen_moment",
        "chats_link",
        "meetings_link",
        "leads_link",
        "remote_id",
        "client_ref",
        "created_moment",
        "updated_moment",
        "sync_state",
        "synced_moment",
        "sync_error",
        "feedback_history",
    ]
    inlines = [ChatUserTagInline, VariableInline]
    actions = ["add_tag", "remove_tag", "push_now", "delete_chatusers", "export_csv"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatUser]:
        # Every page of chat users shows their sync records: read with them, in one query.
        return super().get_queryset(request).select_related("sync")
