"""Reads of the knowledge base."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from backoffice.userbot.models import Bot
from knowledge.models import Interaction


def interaction_list(*, bot: Bot, query: str = "", label: str | None = None) -> QuerySet[Interaction]:
    """A bot's interactions whose question, answer or label holds ``query``, optionally of one label."""
    interactions = Interaction.objects.filter(bot=bot)
    if query:
        interactions = interactions.filter(
            Q(question__icontains=query) | Q(answer__icontains=query) | Q(label__icontains=query)
        )
    if label is not None:
        interactions = interactions.filter(label=label)
    return interactions
