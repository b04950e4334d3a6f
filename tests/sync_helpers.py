"""Small helpers shared by the sync tests: pushes, waits, and chat users put in conflict or dead letters.

Nothing here starts a process or needs Redis; the fault tests' real parts live in ``sync_harness``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.utils import timezone

from backoffice.sync.models import OutboxEntry, SyncConflict
from backoffice.sync.relay import PARKED_FOR, PushReport, push_pending
from backoffice.userbot.models import Bot
from chatusers.models import ChatUser, ChatUserSync
from chatusers.sync.documents import local_docs
from sandbox.runner import SandboxHandle

LABEL = "chatusers.chatuser"

Synced = TypeVar("Synced", bound=Model)


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05) -> Any:
    """The first truthy value of ``predicate``, polled every ``every`` seconds for up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


# --- pushes against the sandbox ------------------------------------------------------------


def pushed(bot: Bot, obj: Synced) -> Synced:
    """Push the bot's pending changes, none of which may fail, and return ``obj`` as it is now."""
    report = push_pending(bot)
    assert report.dead == 0 and report.retrying == 0, report
    obj.refresh_from_db()
    return obj


def push_losing_the_create_answer(bot: Bot, sandbox: SandboxHandle, *, due_now: bool = True) -> PushReport:
    """Push one pending create that Userbot applies but whose answer never arrives: the entry
    stays to retry. With ``due_now`` the retry is due at once rather than after its backoff."""
    sandbox.server.drop_every = 2  # who, then the create: applied, its answer never sent
    report = push_pending(bot)
    sandbox.server.drop_every = 0
    assert (report.sent, report.retrying) == (0, 1), report
    if due_now:
        OutboxEntry.objects.update(next_attempt_at=None)
    return report


# --- chat users in conflict or in the dead letters -----------------------------------------


def in_conflict(
    chatuser: ChatUser, *fields: tuple[str, Any, Any, Any], attempts: int = 1
) -> list[SyncConflict]:
    """Put ``chatuser`` in conflict as a pull does: its snapshot holds Userbot's value of each
    (field, base, ours, theirs), the chat user holds ours, and its pending entry is parked."""
    snapshot = dict(local_docs([chatuser])[chatuser.pk])
    for field, _base, _ours, theirs in fields:
        if theirs is None:
            snapshot.pop(field, None)
        else:
            snapshot[field] = theirs
    ChatUserSync.objects.filter(pk=chatuser.pk).update(
        sync_state="conflict", synced_snapshot=snapshot, remote_id=chatuser.remote_id or f"r{chatuser.pk}"
    )
    chatuser.refresh_from_db()
    OutboxEntry.objects.create(
        bot_id=chatuser.bot_id,
        object_type=LABEL,
        object_id=chatuser.pk,
        attempts=attempts,
        next_attempt_at=timezone.now() + PARKED_FOR,
    )
    return [
        SyncConflict.objects.create(
            bot_id=chatuser.bot_id,
            object_type=LABEL,
            object_id=chatuser.pk,
            object_repr=str(chatuser),
            field=field,
            base_value=base,
            local_value=ours,
            remote_value=theirs,
        )
        for field, base, ours, theirs in fields
    ]


def entries_of(chatuser: ChatUser) -> list[tuple[str, int, bool]]:
    """(state, attempts, due now) of each outbox entry of the chat user."""
    return [
        (e.state, e.attempts, e.next_attempt_at is None)
        for e in OutboxEntry.objects.filter(object_type=LABEL, object_id=chatuser.pk).order_by("id")
    ]


def history(obj: Any) -> list[str]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk)
        )
        .order_by("pk")
        .values_list("change_message", flat=True)
    )


def dead_entry(
    chatuser: ChatUser, *, attempts: int = 3, error: str = "400 invalid: email taken"
) -> OutboxEntry:
    ChatUserSync.objects.filter(pk=chatuser.pk).update(sync_state="error", sync_error=error)
    chatuser.refresh_from_db()
    return OutboxEntry.objects.create(
        bot_id=chatuser.bot_id,
        object_type=LABEL,
        object_id=chatuser.pk,
        state="dead",
        attempts=attempts,
        last_error=error,
        claimed_by="host:1:abc",
    )
