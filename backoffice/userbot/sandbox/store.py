"""The sandbox's data: accounts, and per bot every object of the wire contract.

Objects are kept as the JSON dicts the wire carries (times as ISO strings with
milliseconds), so answering is serialising, and saving the state is one ``orjson.dumps``.
Lookup indexes are derived on load and never saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSONDict = dict[str, Any]


def iso_ms(ms: int) -> str:
    """``2026-11-24T09:30:00.000Z`` for a time in milliseconds since the epoch."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass
class Account:
    """A Userbot user that logs in with an API key."""

    user_id: str
    name: str
    email: str
    role: str
    apikey: str


@dataclass
class BotState:
    sitekey: str
    name: str
    last_stamp_ms: int = 0
    # chatusers domain ------------------------------------------------------------------
    chatusers: dict[str, JSONDict] = field(default_factory=dict)  # id -> ChatUser
    tags: dict[str, JSONDict] = field(default_factory=dict)  # id -> Tag
    variable_ids: dict[str, str] = field(default_factory=dict)  # variable name -> id
    bot_variables: list[JSONDict] = field(default_factory=list)  # bot.get-vars catalogue
    segments: dict[str, JSONDict] = field(default_factory=dict)  # id -> Segment (no count)
    feedback: dict[str, JSONDict] = field(default_factory=dict)  # id -> Feedback
    # knowledge and automation ----------------------------------------------------------
    interactions: dict[str, JSONDict] = field(default_factory=dict)  # id -> Interaction
    automated_messages: dict[str, JSONDict] = field(default_factory=dict)
    # live chat -------------------------------------------------------------------------
    sessions: dict[str, JSONDict] = field(default_factory=dict)  # id -> Session
    messages: dict[str, list[JSONDict]] = field(default_factory=dict)  # session id -> [Message]
    # stats, intel, meetings ------------------------------------------------------------
    sales_days: dict[str, JSONDict] = field(default_factory=dict)  # date -> {orders, revenue, visits}
    leads: dict[str, JSONDict] = field(default_factory=dict)  # id -> lead
    lead_visits: dict[str, list[JSONDict]] = field(default_factory=dict)  # lead id -> visits
    lead_people: dict[str, list[JSONDict]] = field(default_factory=dict)  # lead id -> people
    meetings: list[JSONDict] = field(default_factory=list)  # scheduled and declined
    # derived indexes, rebuilt by ``reindex`` and never saved -----------------------------
    index: dict[str, dict[str, str]] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class SandboxStore:
    accounts: dict[str, Account] = field(default_factory=dict)  # apikey -> Account
    bots: dict[str, BotState] = field(default_factory=dict)  # sitekey -> BotState
    next_id: int = 1

    def new_id(self) -> str:
        """A fresh object id: 24 hex digits, increasing, so ids sort in creation order."""
        value = self.next_id
        self.next_id += 1
        return f"{value:024x}"
