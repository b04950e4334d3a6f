"""Who changed what, and when: every write path records into the admin's LogEntry.

The admin's own "History" page of an object lists these entries, so an operator reads one
history whatever made the change: the admin, a bulk action, a CSV import, or Userbot
itself through the sync engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import models

ACTIONS = {"add": ADDITION, "change": CHANGE, "delete": DELETION}


def record(
    *, actor: AbstractBaseUser, obj: models.Model, action: str, message: str | Sequence[str] = ""
) -> None:
    """Record one change of ``obj`` by ``actor``; ``action`` is add, change or delete."""
    record_many(actor=actor, objects=[obj], action=action, message=message)


def record_many(
    *,
    actor: AbstractBaseUser,
    objects: Iterable[models.Model],
    action: str,
    message: str | Sequence[str] = "",
) -> int:
    """Record the same change of many objects in one query; returns how many."""
    text = message if isinstance(message, str) else "; ".join(message)
    entries = []
    content_types: dict[type[models.Model], ContentType] = {}
    for obj in objects:
        model = type(obj)
        if model not in content_types:
            content_types[model] = ContentType.objects.get_for_model(model, for_concrete_model=False)
        entries.append(
            LogEntry(
                user_id=actor.pk,
                content_type=content_types[model],
                object_id=str(obj.pk),
                object_repr=str(obj)[:200],
                action_flag=ACTIONS[action],
                change_message=text,
            )
        )
    LogEntry.objects.bulk_create(entries, batch_size=1000)
    return len(entries)
