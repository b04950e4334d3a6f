"""Reads of leads for their pages."""

from __future__ import annotations

from django.db.models import QuerySet

from chatusers.models import ChatUser
from leads.models import Lead

CHATUSERS_SHOWN = 50


def chatusers_of_domain(*, lead: Lead) -> QuerySet[ChatUser]:
    """The chat users of the lead's bot whose email is at the lead's domain (any case)."""
    domain = lead.domain.strip()
    if not domain:
        return ChatUser.objects.none()
    at = f"@{domain}"
    # The search column holds the email and has a trigram index: it narrows, the suffix decides.
    return (
        ChatUser.objects.filter(bot_id=lead.bot_id, search_text__icontains=at, email__iendswith=at)
        .only("id", "name", "surname", "email")
        .order_by("email", "pk")
    )
