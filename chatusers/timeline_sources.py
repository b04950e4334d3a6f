"""The chat user domain's own timeline sources: feedback, the history (edits, tags,
variables, and what the sync engine wrote), imports that touched the chat user, and sync
conflicts. Each is one query; ``register`` adds them at app ready."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from django.contrib.admin.models import LogEntry
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse

from backoffice.sync.actor import SYNC_USERNAME
from backoffice.sync.models import SyncConflict
from chatusers.import_models import ImportChange
from chatusers.models import ChatUser, Feedback
from chatusers.timeline import TimelineEntry, register_source

# What the history's messages begin with, by the kind of entry they make (``chatusers.services``
# and the sync engine write them). Anything else is an edit of the chat user.
HISTORY_KINDS = (
    ("Added tag ", "tag"),
    ("Removed tag ", "tag"),
    ("Set variable ", "variable"),
    ("Removed variable ", "variable"),
    ("Push", "sync"),
    ("Dead ", "sync"),
    ("Conflict on ", "sync"),
    ("Deleted on Userbot", "sync"),
)


def register() -> None:
    register_source("feedback", feedback_entries)
    register_source("history", history_entries)
    register_source("imports", import_entries)
    register_source("sync conflicts", conflict_entries)


def _before(rows: QuerySet, field: str, before: datetime | None) -> QuerySet:
    return rows.filter(**{f"{field}__lt": before}) if before is not None else rows


def _shown(value: Any) -> str:
    """A synced value as an operator reads it: text as is, anything else as JSON."""
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _who(user: object | None) -> str:
    if user is None:
        return ""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or str(user)


def feedback_entries(chatuser: ChatUser, before: datetime | None, limit: int) -> list[TimelineEntry]:
    """Their ratings, each with its comment and a link to its chat."""
    rows = _before(Feedback.objects.filter(chatuser=chatuser), "created_at", before)
    return [
        TimelineEntry(
            at=item.created_at,
            kind="feedback",
            title=f"Rated {item.rating}/5",
            detail=item.comment,
            url=_chat_url(item) if item.session_id else "",
            actor=str(chatuser),
        )
        for item in rows.order_by("-created_at", "-pk")[:limit]
    ]


def history_entries(chatuser: ChatUser, before: datetime | None, limit: int) -> list[TimelineEntry]:
    """The admin history of the chat user: who changed what, the sync engine's writes
    (signed by the Userbot user) among them."""
    rows = LogEntry.objects.filter(
        content_type__app_label="chatusers", content_type__model="chatuser", object_id=str(chatuser.pk)
    ).select_related("user")
    entries = []
    for entry in _before(rows, "action_time", before).order_by("-action_time", "-pk")[:limit]:
        message = entry.get_change_message() or _ACTION_WORDS.get(entry.action_flag, "Changed")
        by_sync = entry.user.get_username() == SYNC_USERNAME
        kind = "sync" if by_sync else _history_kind(message)
        entries.append(TimelineEntry(at=entry.action_time, kind=kind, title=message, actor=_who(entry.user)))
    return entries


_ACTION_WORDS = {1: "Created", 2: "Changed", 3: "Deleted"}


def _history_kind(message: str) -> str:
    return next((kind for start, kind in HISTORY_KINDS if message.startswith(start)), "edit")


def _chat_url(item: Feedback) -> str:
    # Named by URL: chat users do not import live chat.
    return reverse("admin:livechat_chat", args=[item.bot_id, item.session_id])


def import_entries(chatuser: ChatUser, before: datetime | None, limit: int) -> list[TimelineEntry]:
    """The imports that created or changed the chat user, each linked to its job. The
    import records one history entry for its job; the chat users it touched are its undo
    rows."""
    rows = (
        ImportChange.objects.filter(chatuser_id=chatuser.pk)
        .select_related("job__created_by")
        .annotate(at=Coalesce(F("job__finished_at"), F("job__started_at"), F("job__created_at")))
    )
    entries = []
    for change in _before(rows, "at", before).order_by("-at", "-pk")[:limit]:
        job = change.job
        verb = "Created by the import of" if change.created else "Updated by the import of"
        detail = "That import was undone since." if job.status == "undone" else ""
        entries.append(
            TimelineEntry(
                at=change.at,
                kind="import",
                title=f"{verb} {job.original_name}",
                detail=detail,
                url=reverse("admin:chatusers_importjob_progress", args=[job.pk]),
                actor=_who(job.created_by),
            )
        )
    return entries


def conflict_entries(chatuser: ChatUser, before: datetime | None, limit: int) -> list[TimelineEntry]:
    """Each field both sides changed differently, when it was found, and how it stands."""
    rows = SyncConflict.objects.filter(
        object_type=ChatUser._meta.label_lower, object_id=chatuser.pk
    ).select_related("resolved_by")
    entries = []
    for conflict in _before(rows, "detected_at", before).order_by("-detected_at", "-pk")[:limit]:
        automatic = conflict.resolution in ("auto_remote", "auto_local")
        entries.append(
            TimelineEntry(
                at=conflict.detected_at,
                kind="conflict",
                title=f"Sync conflict on {conflict.field}: {conflict.get_resolution_display().lower()}",
                detail=f"Here: {_shown(conflict.local_value)}; on Userbot: {_shown(conflict.remote_value)}",
                url=reverse("admin:sync_syncconflict_change", args=[conflict.pk]),
                actor="Userbot (policy)" if automatic else _who(conflict.resolved_by),
            )
        )
    return entries
