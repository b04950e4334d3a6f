"""What an operator does in a chat: take it over, reply, hand it back, settle a lost reply.

Each act reads the chat first (Userbot's word on who holds it and whether it is open), is
kept as a ``ChatAction`` with what Userbot answered, is written into the chat user's
history, and tells every page watching the bot. ``say`` is sent at most once: a reply
whose answer was lost is ``unknown`` until an operator, having read the transcript again,
settles it; nothing here sends it again.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from backoffice import audit
from backoffice.userbot import api
from backoffice.userbot.models import Bot
from backoffice.userbot.once import call_once
from chatusers.models import ChatUser
from livechat import fanout
from livechat.agents import Agent, agent_for
from livechat.models import ChatAction
from livechat.selectors import Transcript, describe, read_transcript
from livechat.wire import TEXT_MAX

logger = logging.getLogger(__name__)
LOST_ASSIGNMENT = "The connection dropped before Userbot answered: read the chat to see who holds it."


class ChatRefused(Exception):
    """The act cannot be done now; the message says why, in the operator's words."""


class HeldByAnother(ChatRefused):
    """Another operator holds the chat: taking it over needs the operator's confirmation."""

    def __init__(self, holder: str, question: str = "Take it over anyway?") -> None:
        super().__init__(f"{holder} holds this chat. {question}")
        self.holder = holder


def chat_take_over(*, bot: Bot, session_id: str, operator: Any, confirmed: bool = False) -> ChatAction:
    """Assign the chat to ``operator``'s agent; asks first (HeldByAnother) when another
    operator holds it, unless ``confirmed``."""
    with agent_for(bot, operator) as agent:
        chat = _open_chat(bot, agent, session_id)
        holder = chat.chat["holder_operator_id"]
        someone_else = chat.chat["status"] == "agent" and chat.chat["agent_id"] and holder != operator.pk
        if someone_else and not confirmed:
            raise HeldByAnother(chat.chat["holder"])
        return _act(
            agent,
            chat,
            operator,
            ChatAction.Kind.TAKE_OVER,
            api.chat_assign_to_agent(session_id=session_id, agent_id=agent.agent_id),
        )


def chat_hand_back(*, bot: Bot, session_id: str, operator: Any, confirmed: bool = False) -> ChatAction:
    """Give the chat back to the bot; asks first (HeldByAnother) when another operator holds
    it, unless ``confirmed``."""
    with agent_for(bot, operator) as agent:
        chat = _open_chat(bot, agent, session_id)
        holder = chat.chat["holder_operator_id"]
        if holder is not None and holder != operator.pk and not confirmed:
            raise HeldByAnother(chat.chat["holder"], "Hand it back to the bot anyway?")
        return _act(
            agent, chat, operator, ChatAction.Kind.HAND_BACK, api.chat_assign_to_bot(session_id=session_id)
        )


def chat_reply(*, bot: Bot, session_id: str, text: str, operator: Any) -> ChatAction:
    """Send ``text`` into the chat as ``operator``, once. Allowed only while the operator
    holds the chat. The action ends ``done``, ``failed`` (Userbot refused it, or it was
    never sent) or ``unknown`` (sent, answer lost: it may have been said)."""
    text = text.strip()
    if not text:
        raise ChatRefused("The reply is empty.")
    if len(text) > TEXT_MAX:
        raise ChatRefused(f"The reply is {len(text)} characters long; at most {TEXT_MAX} can be sent.")
    with agent_for(bot, operator) as agent:
        chat = _open_chat(bot, agent, session_id)
        if not (chat.chat["held_by_my_agent"] and chat.chat["holder_operator_id"] == operator.pk):
            raise ChatRefused(
                "Take the chat over before replying: only the operator who holds it may answer."
            )
        return _act(
            agent,
            chat,
            operator,
            ChatAction.Kind.REPLY,
            api.say(wspath=chat.chat["wspath"], session_id=session_id, message=text),
            text=text,
        )


def chat_reply_settle(*, action: ChatAction, operator: Any, said: bool) -> ChatAction:
    """An operator's verdict on a reply whose answer was lost, after reading the transcript:
    it was said, or it was not (and they may write it again)."""
    if action.state != ChatAction.State.UNKNOWN:
        raise ChatRefused("Only a reply that may not have been sent can be settled.")
    verdict = "was sent" if said else "was not sent"
    action.state = ChatAction.State.SETTLED
    action.error = f"{action.error} {operator.get_username()} checked the transcript: it {verdict}.".strip()
    action.save(update_fields=["state", "error"])
    fanout.chat_changed(action.bot_id, action.session_id)
    return action


def _open_chat(bot: Bot, agent: Agent, session_id: str) -> Transcript:
    chat = read_transcript(bot=bot, agent=agent, session_id=session_id)
    if chat.chat["status"] == "closed":
        raise ChatRefused("This chat is closed.")
    return chat


def _act(
    agent: Agent, chat: Transcript, operator: Any, kind: str, request: Any, *, text: str = ""
) -> ChatAction:
    action = ChatAction.objects.create(
        bot=chat.bot,
        session_id=chat.chat["id"],
        chatuser_remote_id=chat.chat["chatuser_id"],
        kind=kind,
        text=text,
        operator=operator,
        agent_id=agent.agent_id,
    )
    attempt = call_once(agent.client, request)
    if attempt.done:
        if not attempt.valid:
            logger.warning("Userbot's answer to %s in chat %s: %s", kind, action.session_id, attempt.problem)
        if kind == ChatAction.Kind.REPLY and attempt.valid:
            action.message_id = attempt.answer["message"]["id"]
        _answered(action, ChatAction.State.DONE, attempt.problem)
        _into_history(action, operator)
        described = None
        if kind != ChatAction.Kind.REPLY and attempt.valid:
            (described,) = describe(chat.bot, [attempt.answer], me="")
        fanout.chat_changed(chat.bot.pk, action.session_id, chat=described)
        return action
    if attempt.lost and kind == ChatAction.Kind.REPLY:
        _answered(action, ChatAction.State.UNKNOWN, attempt.problem)  # it may have been said
    elif attempt.lost:
        # An assignment is safe to repeat: the operator reads the chat and does it again.
        _answered(action, ChatAction.State.FAILED, LOST_ASSIGNMENT)
    else:
        _answered(action, ChatAction.State.FAILED, attempt.problem)
        if attempt.refused:
            raise ChatRefused(action.error)
    logger.warning("%s in chat %s of bot %s: %s", kind, action.session_id, chat.bot.pk, attempt.problem)
    fanout.chat_changed(chat.bot.pk, action.session_id)
    return action


def _answered(action: ChatAction, state: str, error: str) -> None:
    action.state = state
    action.error = error
    action.answered_at = timezone.now()
    action.save(update_fields=["state", "error", "answered_at", "message_id"])


def _into_history(action: ChatAction, operator: Any) -> None:
    chatuser = ChatUser.objects.filter(
        bot_id=action.bot_id, sync__remote_id=action.chatuser_remote_id
    ).first()
    if chatuser is None:
        return
    said = f": “{action.text[:200]}”" if action.text else ""
    with transaction.atomic():
        audit.record(
            actor=operator,
            obj=chatuser,
            action="change",
            message=f"{action.get_kind_display()} in chat {action.session_id}{said}",
        )
