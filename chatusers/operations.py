"""The chat user list's bulk work, said once: what each action does and the words it reports,
whether it runs inside the request (a selection on one page) or as a long operation in a
worker (everything the list matches), where the operation's ``Progress`` follows it.

``register`` gives the operations their runners when the app is ready.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.utils import timezone

from backoffice.operations.files import operation_file_name
from backoffice.operations.models import Operation
from backoffice.operations.progress import Progress
from backoffice.operations.runners import register as register_runner
from backoffice.sync import services as sync_services
from chatusers import services
from chatusers.export import chatusers_export
from chatusers.models import ChatUser, Tag

# Rows written to an export's file between two words to its progress.
EXPORT_TELL_EVERY = 1000


def counted(count: int) -> str:
    return f"{count:,} chat user{'s' if count != 1 else ''}"


def add_tag(
    *, chatusers: QuerySet[ChatUser], tag: Tag, actor: AbstractBaseUser, progress: Progress | None = None
) -> str:
    changed = services.chatuser_add_tag(chatusers=chatusers, tag=tag, actor=actor, progress=progress)
    return f"Tag “{tag}” added to {counted(changed)}."


def remove_tag(
    *, chatusers: QuerySet[ChatUser], tag: Tag, actor: AbstractBaseUser, progress: Progress | None = None
) -> str:
    changed = services.chatuser_remove_tag(chatusers=chatusers, tag=tag, actor=actor, progress=progress)
    return f"Tag “{tag}” removed from {counted(changed)}."


def delete(
    *, chatusers: QuerySet[ChatUser], actor: AbstractBaseUser, progress: Progress | None = None
) -> str:
    deleted = services.chatusers_delete(chatusers=chatusers, actor=actor, progress=progress)
    return f"Deleted {counted(deleted)}."


def push_now(
    *, chatusers: QuerySet[ChatUser], actor: AbstractBaseUser, progress: Progress | None = None
) -> str:
    # Whatever their state: an errored chat user is sent again as it is now.
    light = chatusers.select_related(None).only("id", "bot_id", "name", "surname", "email", "phone")
    pushed = sync_services.objects_push_now(objects=light, actor=actor, progress=progress)
    return f"{counted(pushed)} queued for a push to Userbot."


def export(operation: Operation, progress: Progress) -> str:
    """Write the chat users as CSV to a file of the operation's, for its starter to download."""
    chatusers = operation.queryset()
    total = chatusers.count()
    progress.at(0, total)  # a run after a dead worker writes the whole file again
    stamp = timezone.localtime(operation.created_at).strftime("%Y%m%d-%H%M%S")
    operation.file = operation_file_name(operation, f"chatusers-{stamp}.csv")
    path = default_storage.path(operation.file)
    default_storage.delete(operation.file)
    lines = chatusers_export(
        chatusers=chatusers, actor=operation.starter(), scope=operation.scope, count=total
    )
    written = 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(next(lines))  # the header
        for line in lines:
            file.write(line)
            written += 1
            if written % EXPORT_TELL_EVERY == 0:
                progress.advance(EXPORT_TELL_EVERY)
    progress.advance(written % EXPORT_TELL_EVERY)
    Operation.objects.filter(pk=operation.pk).update(file=operation.file)
    return f"Exported {counted(written)} as CSV."


def _tag(operation: Operation) -> Tag:
    tag = Tag.objects.filter(pk=operation.params["tag"]).first()
    if tag is None:
        raise LookupError("the tag was deleted after the operation started")
    return tag


def _on_list(action: Any) -> Any:
    def run(operation: Operation, progress: Progress) -> str:
        extra = {"tag": _tag(operation)} if "tag" in operation.params else {}
        return action(chatusers=operation.queryset(), actor=operation.starter(), progress=progress, **extra)

    return run


def register() -> None:
    register_runner("chatusers.add_tag", _on_list(add_tag))
    register_runner("chatusers.remove_tag", _on_list(remove_tag))
    register_runner("chatusers.delete", _on_list(delete))
    register_runner("chatusers.push_now", _on_list(push_now))
    register_runner("chatusers.export", export)
