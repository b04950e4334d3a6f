"""The sandbox's data: accounts, and per bot every object of the wire contract.

Objects are kept as the JSON dicts the wire carries (times as ISO strings with
milliseconds), so answering is serialising, and saving the state is one ``orjson.dumps``.
Lookup indexes are derived on load and never saved.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import operator
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

JSONDict = dict[str, Any]
STATE_VERSION = 1


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
    """One bot's objects, as the wire carries them, and the indexes derived from them."""

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
    # chat user ids ordered by (created_at, id); rebuilt lazily when ``order_stale``
    chatuser_order: list[str] = field(default_factory=list, repr=False, compare=False)
    order_stale: bool = field(default=True, repr=False, compare=False)
    # whether ``chatuser_order`` is in id order too, as it is when every chat user came
    # from this server (ids and times both rise): then an id is found by plain bisection
    order_by_id: bool = field(default=False, repr=False, compare=False)
    # how many chat users the indexes account for; another count means someone added
    # chat users without them (a seed), so they are rebuilt before use
    indexed_count: int = field(default=-1, repr=False, compare=False)

    def ordered_chatuser_ids(self) -> list[str]:
        """Chat user ids by ``created_at`` then ``id``, the order of ``chatusers.get``."""
        if self.order_stale or len(self.chatuser_order) != len(self.chatusers):
            # Sorting pairs compares tuples in C; a key function would be a Python call
            # per chat user, which is most of the time for a million of them.
            pairs = [(user["created_at"], cid) for cid, user in self.chatusers.items()]
            pairs.sort()
            self.chatuser_order = [cid for _, cid in pairs]
            self.order_stale = False
            self.order_by_id = _rising(self.chatuser_order)
        return self.chatuser_order

    def append_to_order(self, ids: list[str]) -> None:
        """Account for chat users just stored under ``ids``, in (``created_at``, ``id``) order.

        They are appended when they sort after every chat user already ordered (a create
        gives them the newest time and rising ids, so this is the common case); otherwise
        the order is rebuilt on its next use.
        """
        if not ids:
            return
        users = self.chatusers
        order = self.chatuser_order
        if self.order_stale or len(order) + len(ids) != len(users):
            self.order_stale = True
            return
        keys = [(users[cid]["created_at"], cid) for cid in (*order[-1:], *ids)]
        if all(map(operator.lt, keys, keys[1:])):
            self.order_by_id = self.order_by_id and _rising([*order[-1:], *ids])
            order.extend(ids)
        else:
            self.order_stale = True

    def remove_from_order(self, removed: list[JSONDict]) -> None:
        """Take chat users just deleted out of the order in place of a full sort.

        Each is found by binary search (on the id alone while the order is in id order too,
        else on ``created_at`` and ``id``), so a delete costs one pass that copies the ids,
        not a sort of every chat user left.
        """
        if not removed:
            return
        users = self.chatusers
        order = self.chatuser_order
        if self.order_stale or len(order) - len(removed) != len(users):
            self.order_stale = True
            return
        gone = {user["id"]: user for user in removed}

        def key(cid: str) -> tuple[str, str]:
            return ((users.get(cid) or gone[cid])["created_at"], cid)

        positions = []
        for user in removed:
            if self.order_by_id:
                at = bisect.bisect_left(order, user["id"])
            else:
                at = bisect.bisect_left(order, (user["created_at"], user["id"]), key=key)
            if at == len(order) or order[at] != user["id"]:
                self.order_stale = True
                return
            positions.append(at)
        positions.sort()
        kept: list[str] = []
        start = 0
        for at in positions:
            kept += order[start:at]
            start = at + 1
        kept += order[start:]
        self.chatuser_order = kept

    def chatuser_index(self, key: str) -> dict[str, str]:
        """One of the chat user lookup indexes, rebuilt when chat users were added elsewhere.

        Keys: ``email`` (lower case), ``phone``, ``client_ref``, ``tag_name`` (lower case),
        ``variable_name`` (variable id to name), ``segment_ref``.
        """
        if self.indexed_count != len(self.chatusers):
            self.reindex_chatusers()
        return self.index[key]

    def reindex_chatusers(self) -> None:
        """Rebuild the chat user domain's indexes from the objects themselves."""
        # Comprehensions rather than one loop with branches: after loading or seeding a
        # million chat users this runs once over all of them, and a comprehension is
        # several times cheaper per item. Where two chat users share a key the later one
        # wins, as in a loop.
        users = self.chatusers.items()
        self.index["email"] = {user["email"].lower(): cid for cid, user in users if user.get("email")}
        self.index["phone"] = {user["phone"]: cid for cid, user in users if user.get("phone")}
        self.index["client_ref"] = {user["client_ref"]: cid for cid, user in users if user.get("client_ref")}
        # A name keeps the id it first had (in chat user order) unless the bot already knew it.
        variable_ids = self.variable_ids
        for user in self.chatusers.values():
            for variable in user.get("variables", ()):
                if variable["name"] not in variable_ids:
                    variable_ids[variable["name"]] = variable["id"]
        self.index["tag_name"] = {tag["name"].lower(): tid for tid, tag in self.tags.items()}
        self.index["variable_name"] = {vid: name for name, vid in self.variable_ids.items()}
        self.index["segment_ref"] = {
            seg["client_ref"]: sid for sid, seg in self.segments.items() if seg.get("client_ref")
        }
        self.indexed_count = len(self.chatusers)
        self.order_stale = True

    def note_chatusers_count(self) -> None:
        """Record that the indexes account for every chat user after a create or delete."""
        self.indexed_count = len(self.chatusers)


def _rising(ids: list[str]) -> bool:
    """Whether ids rise strictly along the list (compared in C, a million in milliseconds)."""
    return all(map(operator.lt, ids, itertools.islice(ids, 1, None)))


@dataclass
class SandboxStore:
    """Every account and bot the sandbox serves, and the id counter they share."""

    accounts: dict[str, Account] = field(default_factory=dict)  # apikey -> Account
    bots: dict[str, BotState] = field(default_factory=dict)  # sitekey -> BotState
    next_id: int = 1

    def new_id(self) -> str:
        """A fresh object id: 24 hex digits, increasing, so ids sort in creation order."""
        value = self.next_id
        self.next_id += 1
        return f"{value:024x}"

    def add_account(self, apikey: str) -> Account:
        """The account of ``apikey``, created with a stable id the first time."""
        account = self.accounts.get(apikey)
        if account is None:
            number = len(self.accounts) + 1
            account = Account(
                user_id=self.new_id(),
                name=f"Sandbox Operator {number}",
                email=f"operator{number}@sandbox.test",
                role="admin",
                apikey=apikey,
            )
            self.accounts[apikey] = account
        return account

    def add_bot(self, sitekey: str, name: str | None = None) -> BotState:
        """The bot of ``sitekey``, created empty the first time."""
        bot = self.bots.get(sitekey)
        if bot is None:
            bot = BotState(sitekey=sitekey, name=name or sitekey.replace("-", " ").replace("_", " ").title())
            self.bots[sitekey] = bot
            bot.reindex_chatusers()
        return bot

    def reindex(self) -> None:
        """Rebuild every derived index (after loading, or after bulk changes such as a seed).

        Also moves each bot's stamp clock past every ``updated_at`` it holds, so that data
        written without ``Context.stamp`` (a seed) cannot make a later change look older.
        """
        for bot in self.bots.values():
            bot.reindex_chatusers()
            latest = max(
                (
                    obj["updated_at"]
                    for objects in (bot.chatusers, bot.segments, bot.interactions, bot.automated_messages)
                    for obj in objects.values()
                    if isinstance(obj.get("updated_at"), str)
                ),
                default=None,
            )
            try:
                moment = datetime.fromisoformat(latest) if latest is not None else None
            except ValueError:
                moment = None
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                bot.last_stamp_ms = max(bot.last_stamp_ms, round(moment.timestamp() * 1000))

    def to_json(self) -> bytes:
        """The whole state as JSON, derived indexes left out."""
        saved = [f.name for f in dataclasses.fields(BotState) if f.compare]
        return orjson.dumps(
            {
                "version": STATE_VERSION,
                "next_id": self.next_id,
                "accounts": [dataclasses.asdict(account) for account in self.accounts.values()],
                "bots": [{name: getattr(bot, name) for name in saved} for bot in self.bots.values()],
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> SandboxStore:
        """A store read back from ``to_json``, with its indexes rebuilt."""
        raw = orjson.loads(data)
        saved = {f.name for f in dataclasses.fields(BotState) if f.compare}
        store = cls(next_id=int(raw["next_id"]))
        for account in raw.get("accounts", []):
            store.accounts[account["apikey"]] = Account(**account)
        for bot in raw.get("bots", []):
            state = BotState(**{k: v for k, v in bot.items() if k in saved})
            store.bots[state.sitekey] = state
        store.reindex()
        return store

    def save(self, path: str | Path) -> None:
        """Write the state atomically: a temporary file beside ``path``, then a rename."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_json()
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> SandboxStore:
        """A store read from a file written by ``save``."""
        return cls.from_json(Path(path).read_bytes())
