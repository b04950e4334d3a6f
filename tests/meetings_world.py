"""A sandbox that records the meetings frames it receives, one that loses the answer to
``meetings.schedule`` after applying it, and a chat user known to both sides."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from backoffice.userbot.models import Bot
from sandbox.answers import error
from sandbox.runner import SandboxHandle, start_sandbox
from sandbox.server import SandboxServer
from tests.conftest import APIKEY, SITEKEY
from tests.factories import ChatUserFactory


class RecordsMeetings(SandboxServer):
    """The sandbox, keeping each ``meetings.*`` request as (channel, payload) in arrival order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.meeting_frames: list[tuple[str, Any]] = []
        super().__init__(*args, **kwargs)

    def answer(self, session: Any, frame: str | bytes) -> tuple[Any, bool]:
        self.record(frame)
        return super().answer(session, frame)

    def record(self, frame: str | bytes) -> None:
        text = frame.decode() if isinstance(frame, bytes) else frame
        if text.startswith("meetings."):
            channel, _, payload = text.partition(" ")
            self.meeting_frames.append((channel, orjson.loads(payload) if payload else None))


class LosesTheAnswerToSchedule(RecordsMeetings):
    """Applies ``meetings.schedule`` and drops the connection instead of answering it."""

    def answer(self, session: Any, frame: str | bytes) -> tuple[Any, bool]:
        answer, drop = super().answer(session, frame)
        text = frame.decode() if isinstance(frame, bytes) else frame
        return answer, drop or text.startswith("meetings.schedule")


class RefusesBookings(RecordsMeetings):
    """Answers ``meetings.schedule`` with a 400 naming a field, and applies nothing."""

    def answer(self, session: Any, frame: str | bytes) -> tuple[Any, bool]:
        text = frame.decode() if isinstance(frame, bytes) else frame
        if not text.startswith("meetings.schedule"):
            return super().answer(session, frame)
        self.record(frame)
        fields = {"start_time": "no free slot at this time"}
        return error("meetings.schedule", 400, "invalid", "the calendar is full", fields=fields), False


@contextmanager
def meetings_sandbox(server_class: type[RecordsMeetings] = RecordsMeetings) -> Iterator[SandboxHandle]:
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,), server_class=server_class) as handle:
        yield handle


def bot_of(sandbox: SandboxHandle) -> Bot:
    bot = Bot(name="Meeting bot", sitekey=SITEKEY, server_url=sandbox.url)
    bot.set_apikey(APIKEY)
    bot.save()
    return bot


def chatuser_on(sandbox: SandboxHandle, bot: Bot, **fields: Any) -> Any:
    """A chat user Userbot knows (made by a visitor opening a chat) and mirrored here."""
    remote_id = sandbox.open_chat(SITEKEY)["chatuser_id"]
    fields.setdefault("email", "giulia@example.com")
    return ChatUserFactory(bot=bot, remote_id=remote_id, name="Giulia", surname="Bianchi", **fields)


def frames(sandbox: SandboxHandle) -> list[tuple[str, Any]]:
    server = sandbox.server
    assert isinstance(server, RecordsMeetings)
    return server.meeting_frames


def booked(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    """The meetings the sandbox recorded, less their ids and times."""
    return [
        {k: v for k, v in meeting.items() if k not in ("id", "at")}
        for meeting in sandbox.store.bots[SITEKEY].meetings
    ]


def tomorrow_at(hour: int) -> datetime:
    day = timezone.now().astimezone(UTC) + timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def staff(username: str, *codenames: str) -> Any:
    """A staff user holding exactly these permissions (``app_label.codename``)."""
    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


OPERATOR_PERMS = (
    "chatusers.view_chatuser",
    "chatusers.change_chatuser",
    "meetings.view_meeting",
    "meetings.add_meeting",
    "meetings.change_meeting",
)
