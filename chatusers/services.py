"""Every edit of the chat user domain made here: validated, atomic, queued for Userbot, audited.

The admin, its bulk actions, the conflict pages and management commands call these, so
each path validates and records a change the same way; bulk services work in chunks of
set-based statements, never one query per chat user. Two paths write rows in bulk on
their own: the CSV import (``chatusers.imports``), which validates each row as these do
and queues its changes with the same ``mark_changed`` statement, and the sync applying
Userbot's changes (``chatusers.sync.writes``), which must never queue a push.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from backoffice.audit import record, record_many
from backoffice.operations.progress import Progress, in_chunks
from backoffice.sync.outbox import mark_changed, mark_deleted
from backoffice.sync.services import object_delete
from backoffice.userbot.models import Bot
from chatusers.models import (
    DEFAULT_TAG_COLOR,
    ChatUser,
    ChatUserTag,
    Segment,
    SegmentFilter,
    Tag,
    Variable,
)

CHATUSER_FIELDS = ("name", "surname", "email", "phone", "channel", "language", "last_seen_at")
# What a bulk service reads of each chat user: enough for the outbox and the audit's label.
# Not its sync record: marking and deleting read the records they need under their own lock.
_LIGHT_FIELDS = ("id", "bot_id", "client_ref", "name", "surname", "email", "phone")


def _light(chatusers: QuerySet[ChatUser]) -> QuerySet[ChatUser]:
    """What a bulk service reads of each chat user: enough for the outbox and the history."""
    return chatusers.select_related(None).only(*_LIGHT_FIELDS)


def _touch(pks: Sequence[int]) -> None:
    ChatUser.objects.filter(pk__in=pks).update(updated_at=timezone.now())


@transaction.atomic
def chatuser_create(
    *,
    bot: Bot,
    actor: AbstractBaseUser,
    name: str = "",
    surname: str = "",
    email: str | None = None,
    phone: str | None = None,
    channel: str = "api",
    language: str = "",
    last_seen_at: datetime | None = None,
    tags: Iterable[Tag] = (),
    variables: Mapping[str, str] | None = None,
) -> ChatUser:
    """Create a chat user locally; it reaches Userbot through the outbox."""
    chatuser = ChatUser(
        bot=bot,
        name=name,
        surname=surname,
        email=email or None,
        phone=phone or None,
        channel=channel,
        language=language,
        last_seen_at=last_seen_at,
    )
    chatuser.full_clean()
    chatuser.save()
    tag_list = list(tags)
    _check_same_bot(bot, tag_list)
    ChatUserTag.objects.bulk_create([ChatUserTag(chatuser=chatuser, tag=tag) for tag in tag_list])
    for var_name, value in (variables or {}).items():
        variable = Variable(chatuser=chatuser, name=var_name, value=value)
        variable.full_clean()
        variable.save()
    mark_changed([chatuser])
    record(actor=actor, obj=chatuser, action="add", message="Created")
    return chatuser


@transaction.atomic
def chatuser_update(*, chatuser: ChatUser, actor: AbstractBaseUser, **changes: Any) -> list[str]:
    """Set the given fields; saves, queues and audits only those that really changed.

    Returns the changed field names (empty when nothing changed, and nothing is written).
    """
    unknown = set(changes) - set(CHATUSER_FIELDS)
    if unknown:
        raise TypeError(f"chatuser_update cannot set {', '.join(sorted(unknown))}")
    for field in ("email", "phone"):
        if field in changes and not changes[field]:
            changes[field] = None
    changed = [field for field, value in changes.items() if getattr(chatuser, field) != value]
    if not changed:
        return []
    for field in changed:
        setattr(chatuser, field, changes[field])
    chatuser.full_clean()
    chatuser.save(update_fields=[*changed, "updated_at"])
    mark_changed([chatuser])
    record(actor=actor, obj=chatuser, action="change", message=f"Changed {', '.join(changed)}")
    return changed


def chatuser_delete(*, chatuser: ChatUser, actor: AbstractBaseUser) -> None:
    """Delete a chat user here and queue its deletion on Userbot."""
    object_delete(obj=chatuser, actor=actor)


def chatusers_delete(
    *, chatusers: QuerySet[ChatUser], actor: AbstractBaseUser, progress: Progress | None = None
) -> int:
    """Delete every chat user of the queryset, a chunk per transaction; returns how many.
    A ``progress`` hears of each chunk once it has committed (and may stop the run there)."""

    def delete(chunk: list[ChatUser]) -> None:
        record_many(actor=actor, objects=chunk, action="delete", message="Deleted")
        mark_deleted(chunk)
        ChatUser.objects.filter(pk__in=[c.pk for c in chunk]).delete()

    return in_chunks(_light(chatusers), delete, progress=progress)


def _as_queryset(chatuser: ChatUser | None, chatusers: QuerySet[ChatUser] | None) -> QuerySet[ChatUser]:
    if (chatuser is None) == (chatusers is None):
        raise TypeError("give exactly one of chatuser and chatusers")
    return ChatUser.objects.filter(pk=chatuser.pk) if chatuser is not None else chatusers  # type: ignore[return-value]


def chatuser_add_tag(
    *,
    tag: Tag,
    actor: AbstractBaseUser,
    chatuser: ChatUser | None = None,
    chatusers: QuerySet[ChatUser] | None = None,
    progress: Progress | None = None,
) -> int:
    """Give ``tag`` to a chat user or to every chat user of a queryset (of the tag's bot);
    returns how many did not have it. One outbox entry and one audit entry per change."""
    lacking = (
        _as_queryset(chatuser, chatusers)
        .filter(bot_id=tag.bot_id)
        .filter(~Exists(ChatUserTag.objects.filter(chatuser=OuterRef("pk"), tag=tag)))
    )

    def add(chunk: list[ChatUser]) -> None:
        ChatUserTag.objects.bulk_create(
            [ChatUserTag(chatuser_id=c.pk, tag=tag) for c in chunk], ignore_conflicts=True
        )
        _touch([c.pk for c in chunk])
        mark_changed(chunk)
        record_many(actor=actor, objects=chunk, action="change", message=f"Added tag {tag.name}")

    return in_chunks(_light(lacking), add, progress=progress)


def chatuser_remove_tag(
    *,
    tag: Tag,
    actor: AbstractBaseUser,
    chatuser: ChatUser | None = None,
    chatusers: QuerySet[ChatUser] | None = None,
    progress: Progress | None = None,
) -> int:
    """Take ``tag`` off a chat user or every chat user of a queryset; returns how many had it."""
    having = _as_queryset(chatuser, chatusers).filter(
        Exists(ChatUserTag.objects.filter(chatuser=OuterRef("pk"), tag=tag))
    )

    def remove(chunk: list[ChatUser]) -> None:
        pks = [c.pk for c in chunk]
        ChatUserTag.objects.filter(tag=tag, chatuser_id__in=pks).delete()
        _touch(pks)
        mark_changed(chunk)
        record_many(actor=actor, objects=chunk, action="change", message=f"Removed tag {tag.name}")

    return in_chunks(_light(having), remove, progress=progress)


@transaction.atomic
def chatuser_set_variable(*, chatuser: ChatUser, name: str, value: str, actor: AbstractBaseUser) -> bool:
    """Create the variable ``name`` on the chat user, or change its value; returns whether
    anything changed (setting the value it already has writes nothing)."""
    variable = Variable.objects.filter(chatuser=chatuser, name=name).first()
    if variable is not None and variable.value == value:
        return False
    if variable is None:
        variable = Variable(chatuser=chatuser, name=name, value=value)
        variable.full_clean()
        variable.save()
    else:
        variable.value = value
        variable.full_clean()
        variable.save(update_fields=["value"])
    _touch([chatuser.pk])
    mark_changed([chatuser])
    record(actor=actor, obj=chatuser, action="change", message=f"Set variable {name}")
    return True


@transaction.atomic
def chatuser_remove_variable(*, chatuser: ChatUser, name: str, actor: AbstractBaseUser) -> bool:
    """Remove the variable ``name`` from the chat user; returns whether it had one."""
    deleted, _ = Variable.objects.filter(chatuser=chatuser, name=name).delete()
    if not deleted:
        return False
    _touch([chatuser.pk])
    mark_changed([chatuser])
    record(actor=actor, obj=chatuser, action="change", message=f"Removed variable {name}")
    return True


@transaction.atomic
def tag_create(*, bot: Bot, name: str, actor: AbstractBaseUser, color: str = DEFAULT_TAG_COLOR) -> Tag:
    """Create a tag locally. Userbot learns it when a chat user carrying it is pushed
    (the contract creates a tag by naming it), so no outbox entry of its own."""
    tag = Tag(bot=bot, name=name.strip(), color=color)
    tag.full_clean()
    tag.save()
    record(actor=actor, obj=tag, action="add", message="Created")
    return tag


@transaction.atomic
def tag_update(*, tag: Tag, actor: AbstractBaseUser, name: str, color: str) -> list[str]:
    """Rename or recolour a tag that is not on Userbot yet (Userbot's tags never change)."""
    changed = [field for field, value in (("name", name), ("color", color)) if getattr(tag, field) != value]
    if not changed:
        return []
    if tag.remote_id:
        raise ValidationError("A tag on Userbot cannot be renamed or recoloured.")
    tag.name, tag.color = name, color
    tag.full_clean()
    tag.save(update_fields=changed)
    record(actor=actor, obj=tag, action="change", message=f"Changed {', '.join(changed)}")
    return changed


@transaction.atomic
def tag_delete(*, tag: Tag, actor: AbstractBaseUser) -> None:
    """Delete a tag that is not on Userbot yet; the chat users that carried it change."""
    if tag.remote_id:
        raise ValidationError("A tag on Userbot cannot be deleted.")
    if SegmentFilter.objects.filter(tag=tag).exists():
        raise ValidationError("A segment filters on this tag; change the segment first.")
    carriers = list(ChatUser.objects.filter(tags=tag).only(*_LIGHT_FIELDS))
    record(actor=actor, obj=tag, action="delete", message="Deleted")
    tag.delete()
    if carriers:
        _touch([c.pk for c in carriers])
        mark_changed(carriers)
        record_many(actor=actor, objects=carriers, action="change", message=f"Removed tag {tag.name}")


def _build_filters(segment: Segment, filters: Sequence[Mapping[str, Any]]) -> list[SegmentFilter]:
    """Validated SegmentFilter rows for ``segment``, or a ValidationError naming each bad one."""
    rows, errors = [], []
    for position, spec in enumerate(filters):
        row = SegmentFilter(
            segment=segment,
            position=position,
            field=spec.get("field", ""),
            op=spec.get("op", ""),
            value=spec.get("value") or "",
            name=spec.get("name") or "",
        )
        try:
            row.full_clean(exclude=["segment"])
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors.extend(f"Filter {position + 1}, {field}: {message}" for message in messages)
        rows.append(row)
    if errors:
        raise ValidationError({"filters": errors})
    return rows


def _filters_key(rows: Iterable[SegmentFilter]) -> list[tuple[str, str, str, str]]:
    return [(r.field, r.op, r.value, r.name) for r in rows]


@transaction.atomic
def segment_create(
    *, bot: Bot, name: str, match: str, filters: Sequence[Mapping[str, Any]], actor: AbstractBaseUser
) -> Segment:
    """Create a segment with its filters (dicts of field, op, value, name; a tag by name)."""
    segment = Segment(bot=bot, name=name, match=match)
    segment.full_clean()
    rows = _build_filters(segment, filters)
    segment.save()
    for row in rows:
        row.segment = segment
    SegmentFilter.objects.bulk_create(rows)
    mark_changed([segment])
    record(actor=actor, obj=segment, action="add", message="Created")
    return segment


@transaction.atomic
def segment_update(
    *,
    segment: Segment,
    actor: AbstractBaseUser,
    name: str | None = None,
    match: str | None = None,
    filters: Sequence[Mapping[str, Any]] | None = None,
) -> list[str]:
    """Change a segment's name, match or filters (replaced as a whole); returns what changed."""
    changed = []
    for field, value in (("name", name), ("match", match)):
        if value is not None and getattr(segment, field) != value:
            setattr(segment, field, value)
            changed.append(field)
    segment.full_clean()
    rows = None
    if filters is not None:
        rows = _build_filters(segment, filters)
        if _filters_key(rows) != _filters_key(segment.filters.all()):
            changed.append("filters")
    if not changed:
        return []
    segment.save(update_fields=[f for f in changed if f != "filters"] + ["updated_at"])
    if rows is not None and "filters" in changed:
        segment.filters.all().delete()
        SegmentFilter.objects.bulk_create(rows)
    mark_changed([segment])
    record(actor=actor, obj=segment, action="change", message=f"Changed {', '.join(changed)}")
    return changed


def segment_delete(*, segment: Segment, actor: AbstractBaseUser) -> None:
    """Delete a segment here and queue its deletion on Userbot."""
    object_delete(obj=segment, actor=actor)


def _check_same_bot(bot: Bot, tags: Iterable[Tag]) -> None:
    if any(tag.bot_id != bot.pk for tag in tags):
        raise ValidationError({"tags": "A chat user can only carry tags of its own bot."})
