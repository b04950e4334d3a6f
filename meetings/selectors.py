"""Reading meetings: a chat user's (or several chat users') newest first, for their timeline."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chatusers.models import ChatUser
from meetings.models import Meeting

LIMIT_MAX = 500


def meetings_of(
    *,
    chatuser_ids: Iterable[int] | None = None,
    chatuser: ChatUser | None = None,
    before: datetime | None = None,
    limit: int = 50,
) -> list[Meeting]:
    """The meetings of ``chatuser`` (or of every chat user in ``chatuser_ids``), newest first,
    made before ``before`` if given, at most ``limit`` (capped at LIMIT_MAX). One query,
    whatever the number: the operator and the chat user come with each meeting."""
    if (chatuser is None) == (chatuser_ids is None):
        raise TypeError("meetings_of takes chatuser or chatuser_ids, one of them")
    ids = [chatuser.pk] if chatuser is not None else list(chatuser_ids or ())
    meetings = Meeting.objects.filter(chatuser_id__in=ids).select_related("operator", "chatuser__sync")
    if before is not None:
        meetings = meetings.filter(created_at__lt=before)
    return list(meetings.order_by("-created_at", "-id")[: max(0, min(limit, LIMIT_MAX))])
