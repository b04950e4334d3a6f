"""Writes to the knowledge base: each queues the change for Userbot and records who made it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from backoffice import audit
from backoffice.sync.outbox import mark_changed, mark_deleted
from backoffice.userbot.models import Bot
from knowledge.models import Interaction

EDITABLE_FIELDS = ("label", "question", "answer", "language", "enabled")


def _field_names(fields: Iterable[str]) -> str:
    return ", ".join(str(Interaction._meta.get_field(name).verbose_name) for name in fields)


@transaction.atomic
def interaction_create(
    *,
    bot: Bot,
    label: str,
    question: str,
    answer: str,
    language: str = "",
    enabled: bool = True,
    actor: AbstractBaseUser,
) -> Interaction:
    """Create an interaction locally and queue its creation on Userbot."""
    interaction = Interaction(
        bot=bot, label=label, question=question, answer=answer, language=language, enabled=enabled
    )
    interaction.full_clean()
    interaction.save()
    mark_changed([interaction])
    audit.record(actor=actor, obj=interaction, action="add", message="Added.")
    return interaction


@transaction.atomic
def interaction_update(*, interaction: Interaction, actor: AbstractBaseUser, **changes: Any) -> Interaction:
    """Set the given fields; only those whose value differs are saved, pushed and recorded."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"interaction_update() cannot change {', '.join(sorted(unknown))}")
    changed = [name for name, value in changes.items() if getattr(interaction, name) != value]
    if not changed:
        return interaction
    for name in changed:
        setattr(interaction, name, changes[name])
    interaction.full_clean()
    interaction.save(update_fields=changed)
    mark_changed([interaction])
    audit.record(actor=actor, obj=interaction, action="change", message=f"Changed {_field_names(changed)}.")
    return interaction


@transaction.atomic
def interaction_delete(*, interaction: Interaction, actor: AbstractBaseUser) -> None:
    """Delete an interaction locally and queue its deletion on Userbot."""
    interactions_delete(interactions=[interaction], actor=actor)


@transaction.atomic
def interactions_delete(*, interactions: Iterable[Interaction], actor: AbstractBaseUser) -> int:
    """Delete many interactions at once (the admin's bulk delete); returns how many."""
    interactions = list(interactions)
    if not interactions:
        return 0
    audit.record_many(actor=actor, objects=interactions, action="delete", message="Deleted.")
    mark_deleted(interactions)
    Interaction.objects.filter(pk__in=[item.pk for item in interactions]).delete()
    return len(interactions)


@transaction.atomic
def interactions_set_enabled(
    *, interactions: Iterable[Interaction], enabled: bool, actor: AbstractBaseUser
) -> int:
    """Enable or disable many interactions; returns how many changed (those already so are left)."""
    pks = [item.pk for item in interactions]
    to_change = list(Interaction.objects.select_for_update().filter(pk__in=pks).exclude(enabled=enabled))
    if not to_change:
        return 0
    Interaction.objects.filter(pk__in=[item.pk for item in to_change]).update(enabled=enabled)
    for item in to_change:
        item.enabled = enabled
    mark_changed(to_change)
    verb = "Enabled" if enabled else "Disabled"
    audit.record_many(actor=actor, objects=to_change, action="change", message=f"{verb}.")
    return len(to_change)
