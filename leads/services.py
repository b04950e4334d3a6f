"""Every change of leads made here: tags added or removed in bulk, a pull asked for, and
the visits and key people read and kept. Tag changes are queued for Userbot in the same
transaction (``outbox.mark_changed_ids``) and recorded in each lead's history."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from backoffice.audit import record_many
from backoffice.operations.progress import Progress, in_chunks
from backoffice.sync import tasks as sync_tasks
from backoffice.sync.outbox import mark_changed_ids
from backoffice.userbot.models import Bot
from leads.models import Lead, LeadTag
from leads.tags import clean_tag, tag_key

# What a bulk service reads of each lead: enough for the outbox and the history's label.
_LIGHT_FIELDS = ("id", "bot_id", "company", "domain", "remote_id")


def _as_queryset(leads: QuerySet[Lead] | Sequence[Lead]) -> QuerySet[Lead]:
    if isinstance(leads, QuerySet):
        return leads
    return Lead.objects.filter(pk__in=[lead.pk for lead in leads])


def _queue(chunk: list[Lead]) -> None:
    by_bot: dict[int, list[int]] = {}
    for lead in chunk:
        by_bot.setdefault(lead.bot_id, []).append(lead.pk)
    for bot_id, ids in by_bot.items():
        mark_changed_ids(Lead, bot_id, ids)


def lead_add_tag(
    *,
    leads: QuerySet[Lead] | Sequence[Lead],
    tag: str,
    actor: AbstractBaseUser,
    progress: Progress | None = None,
) -> int:
    """Tag the leads (a selection, or every lead a filter matches) with ``tag`` (1 to 100
    characters once trimmed, else ValidationError); returns how many lacked it. A lead with
    the tag in any case is left as it is, as Userbot would."""
    tag = clean_tag(tag)
    key = tag_key(tag)
    lacking = _as_queryset(leads).filter(~Exists(LeadTag.objects.filter(lead=OuterRef("pk"), key=key)))

    def add(chunk: list[Lead]) -> None:
        LeadTag.objects.bulk_create(
            [LeadTag(lead_id=lead.pk, tag=tag, key=key) for lead in chunk], ignore_conflicts=True
        )
        _queue(chunk)
        record_many(actor=actor, objects=chunk, action="change", message=f"Added tag {tag}")

    return in_chunks(lacking.only(*_LIGHT_FIELDS), add, progress=progress)


def lead_remove_tag(
    *,
    leads: QuerySet[Lead] | Sequence[Lead],
    tag: str,
    actor: AbstractBaseUser,
    progress: Progress | None = None,
) -> int:
    """Take ``tag`` (in any case) off the leads; returns how many had it."""
    tag = clean_tag(tag)
    key = tag_key(tag)
    having = _as_queryset(leads).filter(Exists(LeadTag.objects.filter(lead=OuterRef("pk"), key=key)))

    def remove(chunk: list[Lead]) -> None:
        LeadTag.objects.filter(key=key, lead_id__in=[lead.pk for lead in chunk]).delete()
        _queue(chunk)
        record_many(actor=actor, objects=chunk, action="change", message=f"Removed tag {tag}")

    return in_chunks(having.only(*_LIGHT_FIELDS), remove, progress=progress)


def leads_read_again(*, bot: Bot, actor: AbstractBaseUser) -> None:
    """Queue a pull of the bot (its leads with the rest) once the caller's transaction commits."""
    bot_id = bot.pk
    transaction.on_commit(lambda: sync_tasks.pull.delay(bot_id), robust=True)
    record_many(actor=actor, objects=[bot], action="change", message="Asked to read the leads again")
