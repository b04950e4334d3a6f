"""Reads of live chats: the inbox and a transcript, from Userbot, named with what is kept here.

Chats live on Userbot and are read when a page asks; what this side adds is who the chat
user is here (their name and admin page) and which operator holds a chat, from the chat
actions (with the bot's shared key, Userbot knows only that "an agent" holds it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import F, Q
from django.urls import reverse

from backoffice.userbot import api
from backoffice.userbot.connections import client_for
from backoffice.userbot.errors import PayloadInvalid, TransportError, UserbotError
from backoffice.userbot.models import Bot
from chatusers.models import ChatUser
from livechat.agents import Agent
from livechat.models import ChatAction
from livechat.wire import INBOX_MAX, sessions_of, transcript_of

logger = logging.getLogger(__name__)

OPEN_FIRST = {"agent": 0, "bot": 1, "closed": 2}
WAITING_TTL_S = 30
WAITING_TIMEOUT_S = 3.0
# The open chats whose last message the inbox shows, read in one pipelined burst.
LAST_MESSAGES_MAX = 100
LAST_TEXT_MAX = 140


@dataclass
class Inbox:
    bot: Bot
    chats: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    dropped: list[str] = field(default_factory=list)


@dataclass
class Transcript:
    bot: Bot
    chat: dict[str, Any]
    messages: list[dict[str, Any]]
    dropped: list[str]
    actions: list[ChatAction]


def read_inbox(*, bot: Bot, agent: Agent) -> Inbox:
    """The bot's newest chats (up to ``INBOX_MAX`` by start), open ones first, then by the
    newest activity, each with its chat user and holder named."""
    payload = agent.client.call(api.robin_sessions(user_id=agent.agent_id, limit=INBOX_MAX, offset=0))
    read = sessions_of(payload)
    chats = describe(bot, read.items, me=agent.agent_id)
    _with_last_messages(agent, [c for c in chats if c["status"] != "closed"][:LAST_MESSAGES_MAX])
    chats.sort(key=lambda c: (OPEN_FIRST[c["status"]], _minus(c["last_message_at"])))
    return Inbox(bot=bot, chats=chats, total=int(payload["total"]), dropped=read.dropped)


def waiting_per_bot(bots: Iterable[Bot]) -> dict[int, int | None]:
    """Per bot, how many chats wait for an agent (handed over, held by nobody): None when
    Userbot could not be asked. Kept ``WAITING_TTL_S`` in the cache, so the index asks each
    bot at most that often."""
    counts: dict[int, int | None] = {}
    for bot in bots:
        key = f"livechat:waiting:{bot.pk}"
        cached = cache.get(key)
        if cached is None:
            cached = _count_waiting(bot)
            cache.set(key, cached, WAITING_TTL_S if cached >= 0 else WAITING_TTL_S // 3)
        counts[bot.pk] = cached if cached >= 0 else None
    return counts


def _count_waiting(bot: Bot) -> int:
    client = client_for(
        bot, timeout=WAITING_TIMEOUT_S, connect_timeout=WAITING_TIMEOUT_S, reconnect_attempts=1
    )
    try:
        who = client.connect().who["id"]
        payload = client.call(api.robin_sessions(user_id=str(who), limit=INBOX_MAX, offset=0))
        read = sessions_of(payload)
    except (TransportError, UserbotError, PayloadInvalid) as exc:
        logger.warning("The chats waiting on bot %s could not be counted: %s", bot.pk, exc)
        return -1
    finally:
        client.close()
    return sum(1 for s in read.items if s["status"] == "agent" and s["agent_id"] is None)


def read_transcript(*, bot: Bot, agent: Agent, session_id: str) -> Transcript:
    """One chat, its messages oldest first, and what operators did in it here."""
    payload = agent.client.call(api.robin_session(user_id=agent.agent_id, session_id=session_id))
    session, read = transcript_of(payload)
    (chat,) = describe(bot, [session], me=agent.agent_id)
    actions = list(
        ChatAction.objects.filter(bot=bot, session_id=session_id)
        .select_related("operator")
        .order_by("created_at")
    )
    return Transcript(bot=bot, chat=chat, messages=read.items, dropped=read.dropped, actions=actions)


def _with_last_messages(agent: Agent, chats: list[dict[str, Any]]) -> None:
    """Give each chat its last message's text (``last_text``); a chat whose transcript cannot
    be read (gone since the list, not valid) keeps none."""
    requests = [api.robin_session(user_id=agent.agent_id, session_id=c["id"]) for c in chats]
    for chat, outcome in zip(chats, agent.client.iter_many(requests), strict=True):
        chat["last_text"] = ""
        if isinstance(outcome, Exception) or not outcome.ok:
            continue
        try:
            _, read = transcript_of(outcome.payload)
        except PayloadInvalid:
            continue
        if read.items:
            chat["last_text"] = read.items[-1]["text"][:LAST_TEXT_MAX]


def describe(bot: Bot, sessions: Iterable[dict[str, Any]], *, me: str) -> list[dict[str, Any]]:
    """Sessions as pages show them: with the chat user's name and link, and the holder's name.

    Two queries whatever the number of sessions."""
    sessions = list(sessions)
    remote_ids = {s["chatuser_id"] for s in sessions}
    people = {
        c["remote_id"]: c
        for c in ChatUser.objects.filter(bot=bot, sync__remote_id__in=remote_ids).values(
            "pk", "name", "surname", "email", "phone", remote_id=F("sync__remote_id")
        )
    }
    holders = holders_of(bot, [s for s in sessions if s["status"] == "agent" and s["agent_id"]])
    described = []
    for session in sessions:
        person = people.get(session["chatuser_id"])
        holder = holders.get(session["id"])
        described.append(
            {
                **session,
                "chatuser_name": _name(person) if person else f"Chat user {session['chatuser_id']}",
                "chatuser_url": reverse("admin:chatusers_chatuser_change", args=[person["pk"]])
                if person
                else "",
                "holder": holder["name"] if holder else _unheld(session),
                "holder_operator_id": holder["operator_id"] if holder else None,
                "held_by_my_agent": session["status"] == "agent" and session["agent_id"] == me,
            }
        )
    return described


def holders_of(bot: Bot, sessions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each session held by an agent: the operator whose takeover put that agent there
    (the latest done takeover of the session as that agent), when one did it from here."""
    if not sessions:
        return {}
    wanted = Q()
    for session in sessions:
        wanted |= Q(session_id=session["id"], agent_id=session["agent_id"])
    takeovers = (
        ChatAction.objects.filter(
            wanted, bot=bot, kind=ChatAction.Kind.TAKE_OVER, state=ChatAction.State.DONE
        )
        .order_by("session_id", "-created_at", "-id")
        .values(
            "session_id", "operator_id", "operator__username", "operator__first_name", "operator__last_name"
        )
    )
    holders: dict[str, dict[str, Any]] = {}
    for row in takeovers:
        if row["session_id"] in holders:
            continue
        full = f"{row['operator__first_name']} {row['operator__last_name']}".strip()
        holders[row["session_id"]] = {
            "operator_id": row["operator_id"],
            "name": full or row["operator__username"],
        }
    return holders


def _unheld(session: dict[str, Any]) -> str:
    """Who holds a chat no operator here took over: the bot, nobody yet, or an agent who
    took it on Userbot itself (named by the end of their Userbot id)."""
    if session["status"] == "bot":
        return "the bot"
    if session["status"] == "closed":
        return ""
    agent_id = session["agent_id"]
    return f"an agent on Userbot (…{agent_id[-6:]})" if agent_id else "nobody yet"


def _name(person: dict[str, Any]) -> str:
    full = f"{person['name']} {person['surname']}".strip()
    return full or person["email"] or person["phone"] or f"Chat user #{person['pk']}"


def _minus(moment: str) -> float:
    return -datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
