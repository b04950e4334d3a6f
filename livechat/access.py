"""Who may see live chats and who may act in them."""

from __future__ import annotations

from typing import Any

VIEW = "livechat.view_chataction"
ANSWER = "livechat.answer_chats"


def can_view_chats(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm(VIEW))


def can_answer_chats(user: Any) -> bool:
    return can_view_chats(user) and bool(user.has_perm(ANSWER))
