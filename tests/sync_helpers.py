"""Small helpers shared by the sync tests.

Nothing here starts a process or needs Redis; the fault tests' real parts live in ``sync_harness``.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model

from backoffice.sync.models import OutboxEntry
from backoffice.sync.relay import PushReport, push_pending
from backoffice.userbot.models import Bot
from backoffice.userbot.sandbox.runner import SandboxHandle

Synced = TypeVar("Synced", bound=Model)


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
