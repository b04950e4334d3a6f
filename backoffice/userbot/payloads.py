"""The objects Userbot's payloads carry, as typed dicts: what the builders of ``api`` take
(drafts, filters) and what answers and events hold (chat users, segments, sessions ...).

Their ``Literal`` types repeat the contract's closed sets, which a test keeps equal.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

Channel = Literal["webchat", "whatsapp", "messenger", "instagram", "telegram", "api"]
FilterOp = Literal["eq", "neq", "contains", "exists", "not_exists", "gt", "lt"]


class Tag(TypedDict):
    id: str
    name: str
    color: str


class Variable(TypedDict):
    id: str
    name: str
    value: str


class ChatUser(TypedDict):
    id: str
    client_ref: str | None
    name: str
    surname: str
    email: str | None
    phone: str | None
    channel: Channel
    language: str
    tags: list[str]
    variables: list[Variable]
    created_at: str
    updated_at: str
    last_seen_at: str | None


class VariableDraft(TypedDict):
    name: str
    value: str


class ChatUserDraft(TypedDict, total=False):
    """A chat user to create: every field optional, ``tags`` by name."""

    client_ref: str | None
    name: str
    surname: str
    email: str | None
    phone: str | None
    channel: Channel
    language: str
    tags: list[str]
    variables: list[VariableDraft]


class SegmentFilter(TypedDict):
    field: Literal["tag", "variable", "channel", "language", "email", "created_at", "last_seen_at"]
    op: FilterOp
    value: NotRequired[str]
    name: NotRequired[str]


class Segment(TypedDict):
    id: str
    client_ref: str | None
    name: str
    match: Literal["all", "any"]
    filters: list[SegmentFilter]
    count: int
    updated_at: str


class Interaction(TypedDict):
    id: str
    client_ref: str | None
    label: str
    question: str
    answer: str
    language: str
    enabled: bool
    updated_at: str


class AutomatedMessageCondition(TypedDict):
    field: Literal["url", "language", "channel", "tag", "variable"]
    op: FilterOp
    value: NotRequired[str]
    name: NotRequired[str]


class ButtonChoice(TypedDict):
    label: str
    value: str


class Answer(TypedDict):
    type: Literal["text", "buttons", "image"]
    text: NotRequired[str]
    buttons: NotRequired[list[ButtonChoice]]
    url: NotRequired[str]


class AutomatedMessage(TypedDict):
    id: str
    client_ref: str | None
    name: str
    enabled: bool
    trigger: Literal["page_visit", "time_on_page", "returning_user", "exit_intent"]
    delay_seconds: int
    conditions: list[AutomatedMessageCondition]
    answers: list[Answer]
    updated_at: str


class AutomatedMessageDraft(TypedDict, total=False):
    """An automated message to save: without ``id`` it creates, with ``id`` it updates."""

    id: str
    client_ref: str
    name: str
    enabled: bool
    trigger: Literal["page_visit", "time_on_page", "returning_user", "exit_intent"]
    delay_seconds: int
    conditions: list[AutomatedMessageCondition]
    answers: list[Answer]


class Session(TypedDict):
    id: str
    wspath: str
    chatuser_id: str
    channel: Channel
    status: Literal["bot", "agent", "closed"]
    agent_id: str | None
    started_at: str
    last_message_at: str


# ``from`` is a Python keyword, hence the functional form.
Message = TypedDict("Message", {"id": str, "from": Literal["user", "bot", "agent"], "text": str, "at": str})


class Feedback(TypedDict):
    id: str
    chatuser_id: str
    session_id: str
    rating: int
    comment: str
    created_at: str
