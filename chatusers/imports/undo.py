"""Undoing an import: delete the chat users it created, put back those it changed, and
remove the tags it created that nothing uses any more.

Audit: one ``LogEntry`` per undo; its deletions go through ``chatusers_delete`` and
``tag_delete``, which record their own entries.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.audit import record
from backoffice.sync.outbox import mark_changed
from chatusers.import_models import ImportChange, ImportJob
from chatusers.imports.chunks import CHUNK_ROWS
from chatusers.imports.plan import FIELDS
from chatusers.models import ChatUser, ChatUserTag, SegmentFilter, Tag, Variable
from chatusers.services import chatusers_delete, tag_delete


def import_job_undo(*, job: ImportJob, actor: AbstractBaseUser) -> dict[str, int]:
    """Delete the chat users the job created (their deletion queued for Userbot) and put
    back the fields, tags and variables of those it changed; returns the counts."""
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.dry_run:
            raise ValidationError("A dry run changed nothing: there is nothing to undo.")
        if locked.status == ImportJob.Status.UNDONE:
            raise ValidationError("This import has already been undone.")
        if locked.status not in (ImportJob.Status.DONE, ImportJob.Status.CANCELLED, ImportJob.Status.FAILED):
            raise ValidationError("An import can be undone once it has stopped running.")
        locked.status = ImportJob.Status.UNDONE
        locked.save(update_fields=["status"])
    created_ids = ImportChange.objects.filter(job=job, created=True).values("chatuser_id")
    deleted = chatusers_delete(chatusers=ChatUser.objects.filter(pk__in=created_ids), actor=actor)
    restored = 0
    last = 0
    while True:
        changes = list(
            ImportChange.objects.filter(job=job, created=False, pk__gt=last).order_by("pk")[:CHUNK_ROWS]
        )
        if not changes:
            break
        last = changes[-1].pk
        with transaction.atomic():
            restored += _restore(job.bot_id, changes)
    job.status = ImportJob.Status.UNDONE
    tags = import_job_remove_created_tags(job=job, actor=actor)
    counts = {"deleted": deleted, "restored": restored, **tags}
    record(
        actor=actor,
        obj=job,
        action="change",
        message=f"Undone: {deleted} deleted, {restored} restored, {tags['tags_deleted']} new tags deleted",
    )
    return counts


def import_job_created_tags(*, job: ImportJob) -> dict[str, list[str]]:
    """The tags the job created, by what its undo does with them: ``deleted`` (held by no
    chat user once the import is undone, which the caller must check, and not on Userbot),
    ``on_userbot`` (kept: Userbot never deletes a tag, and its next pull would bring one
    back), ``in_use`` (a chat user the import did not touch, or a segment, uses it)."""
    tags = (
        Tag.objects.filter(pk__in=job.created_tags or [], bot_id=job.bot_id)
        .annotate(
            held=Exists(ChatUserTag.objects.filter(tag=OuterRef("pk"))),
            filtered=Exists(SegmentFilter.objects.filter(tag=OuterRef("pk"))),
        )
        .order_by("name")
    )
    found: dict[str, list[str]] = {"deleted": [], "on_userbot": [], "in_use": []}
    for tag in tags:
        if tag.remote_id:
            found["on_userbot"].append(tag.name)
        elif tag.held or tag.filtered:
            found["in_use"].append(tag.name)
        else:
            found["deleted"].append(tag.name)
    return found


def import_job_remove_created_tags(*, job: ImportJob, actor: AbstractBaseUser) -> dict[str, int]:
    """Delete the tags an undone import created that nothing uses any more, through
    ``tag_delete`` (recorded in each tag's history); returns ``tags_deleted`` and
    ``tags_kept``. Tags Userbot has stay: the protocol never deletes a tag, and a local
    deletion would come back with the next pull."""
    found = import_job_created_tags(job=job)
    deleted = 0
    for tag in Tag.objects.filter(bot_id=job.bot_id, name__in=found["deleted"], pk__in=job.created_tags):
        try:
            tag_delete(tag=tag, actor=actor)
        except ValidationError:
            continue  # taken up meanwhile (a segment filters on it, or Userbot has it now)
        deleted += 1
    kept = len(found["on_userbot"]) + len(found["in_use"]) + len(found["deleted"]) - deleted
    return {"tags_deleted": deleted, "tags_kept": kept}


def _restore(bot_id: int, changes: Sequence[ImportChange]) -> int:
    """Put the before-images back on the chat users that still exist, and queue them."""
    before = {change.chatuser_id: change.before or {} for change in changes}
    chatusers = list(ChatUser.objects.filter(pk__in=list(before)).only("id", "bot_id", *FIELDS))
    if not chatusers:
        return 0
    now = timezone.now()
    for chatuser in chatusers:
        for name, value in before[chatuser.pk].get("fields", {}).items():
            setattr(chatuser, name, value)
        chatuser.updated_at = now
    ChatUser.objects.bulk_update(chatusers, [*FIELDS, "updated_at"], batch_size=500)
    ids = [c.pk for c in chatusers]
    names = {name.lower() for c in chatusers for name in before[c.pk].get("tags", [])}
    existing = dict(
        Tag.objects.filter(bot_id=bot_id)
        .annotate(lower=Lower("name"))
        .filter(lower__in=names)
        .values_list("lower", "id")
    )
    missing = {n for c in chatusers for n in before[c.pk].get("tags", []) if n.lower() not in existing}
    if missing:
        Tag.objects.bulk_create([Tag(bot_id=bot_id, name=n) for n in missing], ignore_conflicts=True)
        existing.update(
            Tag.objects.filter(bot_id=bot_id)
            .annotate(lower=Lower("name"))
            .filter(lower__in=names)
            .values_list("lower", "id")
        )
    ChatUserTag.objects.filter(chatuser_id__in=ids).delete()
    ChatUserTag.objects.bulk_create(
        [
            ChatUserTag(chatuser_id=c.pk, tag_id=existing[name.lower()])
            for c in chatusers
            for name in before[c.pk].get("tags", [])
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    Variable.objects.filter(chatuser_id__in=ids).delete()
    Variable.objects.bulk_create(
        [
            Variable(chatuser_id=c.pk, name=name, value=value)
            for c in chatusers
            for name, value in before[c.pk].get("variables", {}).items()
        ],
        batch_size=500,
    )
    mark_changed(chatusers)
    return len(chatusers)
