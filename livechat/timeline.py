"""Live chat's part of a chat user's timeline: what operators did in their chats."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from chatusers.models import ChatUser
from chatusers.timeline import TimelineEntry, register_source
from livechat.models import ChatAction

TITLES = {
    ChatAction.Kind.TAKE_OVER: "Took over chat {}",
    ChatAction.Kind.HAND_BACK: "Handed chat {} back to the bot",
    ChatAction.Kind.REPLY: "Replied in chat {}",
}


def register() -> None:
    register_source("chats", chat_entries)


def chat_entries(chatuser: ChatUser, before: datetime | None, limit: int) -> list[TimelineEntry]:
    """The takeovers, hand-backs and replies in the chat user's chats, each linked to its
    chat; one query (none for a chat user Userbot does not know yet)."""
    if not chatuser.remote_id:
        return []
    rows = ChatAction.objects.filter(bot_id=chatuser.bot_id, chatuser_remote_id=chatuser.remote_id)
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    entries = []
    for action in rows.select_related("operator").order_by("-created_at", "-pk")[:limit]:
        state = "" if action.state == ChatAction.State.DONE else f" ({action.get_state_display().lower()})"
        entries.append(
            TimelineEntry(
                at=action.created_at,
                kind="chat",
                title=TITLES.get(action.kind, "{}").format(action.session_id) + state,
                detail=action.text,
                url=reverse("admin:livechat_chat", args=[action.bot_id, action.session_id]),
                actor=action.operator.get_full_name() or action.operator.get_username(),
            )
        )
    return entries
