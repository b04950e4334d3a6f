"""The bot's tags on the wire: the one mapping between tag names here and Userbot's tag ids.

Chat users carry tags by id on the wire; segment filters and automated-message conditions
name one by id too. Every kind translates through ``TagBook``: an id not known here is
learnt by reading Userbot's tags again, and a tag only here so far is made on Userbot
before something names it there. Kinds of other domains whose documents name tags
(automated messages' conditions) reach it through the engine: it is registered as the
``tags`` mapper (``Wire.mapper("tags")``), so they never import chat users.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from backoffice.sync.kinds import failure_of
from backoffice.sync.reading import ReadFailed, RemoteList, Unreadable, Unsendable, read_list
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.models import Bot
from backoffice.userbot.schema import Rejected
from chatusers.models import FilterField, Tag

# Operators with which a tag filter (or condition) names one tag; the others name none.
TAG_NAMING_OPS = frozenset({"eq", "neq"})


def names_a_tag(field_name: str, op: str) -> bool:
    return field_name == "tag" and op in TAG_NAMING_OPS


def condition_doc(field_name: str, op: str, value: str, name: str) -> dict[str, str]:
    """A filter or condition as documents hold it: ``name`` only on a variable."""
    item = {"field": field_name, "op": op, "value": value}
    if field_name == FilterField.VARIABLE:
        item["name"] = name
    return item


class TagBook:
    """The bot's tags both ways: Userbot id to lower-case name, and lower-case name to Tag."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.new = 0  # tags the last ``read`` made here
        self.reload()

    def reload(self) -> None:
        self.by_name = {tag.name.lower(): tag for tag in Tag.objects.filter(bot=self.bot)}
        self.names = {tag.remote_id: name for name, tag in self.by_name.items() if tag.remote_id}

    # Userbot's ids to names here ---------------------------------------------------------

    def names_for(self, client: UserbotClient, tag_ids: Iterable[str]) -> dict[str, str]:
        """``names``, after reading Userbot's tags again if one of these ids is not in it
        (ReadFailed if they cannot be read)."""
        if any(tag_id not in self.names for tag_id in tag_ids):
            self.read(client)
        return self.names

    def name_of(self, client: UserbotClient, tag_id: str, *, field: str = "object") -> str:
        """The name here of the tag with this Userbot id; Unreadable, naming ``field`` of the
        object that names it, if Userbot lists no such tag or its tags cannot be read."""
        try:
            key = self.names_for(client, [tag_id]).get(tag_id)
        except ReadFailed as exc:
            raise Unreadable(f"Userbot's tags could not be read: {exc}", field=field) from exc
        if key is None:
            raise Unreadable(f"it names the tag {tag_id}, which Userbot does not list", field=field)
        return self.by_name[key].name

    def read(self, client: UserbotClient) -> RemoteList:
        """Read Userbot's tags and mirror the valid ones; ReadFailed if the list cannot be read.
        Returns the list, with the tags skipped and why (``rejected``); ``new`` says how many
        were new here."""
        listing = read_list(client, api.chatusers_get_bot_tags(), "tags", times=())
        refused = list(listing.rejected)
        valid = []
        names: set[str] = set()
        ids: set[str] = set()
        for remote in listing.objects:
            # Names are unique per bot whatever the case, and an id names one tag: a list
            # that says otherwise is not mirrored past its first word on either.
            key = remote["name"].lower()
            if key in names or remote["id"] in ids:
                twice = "id" if remote["id"] in ids else "name"
                refused.append(Rejected(remote["id"], {twice: f"another tag of the list has this {twice}"}))
                continue
            names.add(key)
            ids.add(remote["id"])
            valid.append(remote)
        self.new = self.learn(valid)
        return RemoteList(valid, rejected=refused)

    def learn(self, remote_tags: Iterable[dict[str, Any]]) -> int:
        """Mirror Userbot's tags (their colour is Userbot's); returns how many were new here."""
        new = 0
        for remote in remote_tags:
            key = remote["name"].lower()
            tag = self.by_name.get(key)
            if tag is None or tag.remote_id != remote["id"]:
                # The id names this tag from now on, not one that held it before.
                for name, other in self.by_name.items():
                    if other.remote_id == remote["id"] and name != key:
                        other.remote_id = None
                        other.save(update_fields=["remote_id"])
            if tag is None:
                tag = Tag.objects.create(
                    bot=self.bot, name=remote["name"], color=remote["color"], remote_id=remote["id"]
                )
                self.by_name[key] = tag
                new += 1
            elif tag.remote_id != remote["id"] or tag.color != remote["color"]:
                tag.remote_id, tag.color = remote["id"], remote["color"]
                tag.save(update_fields=["remote_id", "color"])
            self.names[remote["id"]] = key
        return new

    # names here to Userbot's ids ---------------------------------------------------------

    def id_of(self, client: UserbotClient, name: str) -> str:
        """The Userbot id of the tag of this name; a tag only here so far is made there first
        (an ``add-tag`` with no chat users only makes sure the tag exists, with its colour)."""
        tag = self.by_name.get(name.lower())
        if tag is None:
            raise Unsendable(f"this bot has no tag named {name}", transient=False)
        if not tag.remote_id:
            request = api.chatusers_add_tag(chatuser_ids=[], tag_name=tag.name, color=tag.color)
            outcome = next(client.iter_many([request]))
            failure = failure_of(outcome)
            if failure is not None:
                raise Unsendable(
                    f"the tag {tag.name} could not be made on Userbot: {failure.message}",
                    transient=failure.transient,
                )
            self.learn([outcome.payload["tag"]])  # type: ignore[union-attr]
        return tag.remote_id  # type: ignore[return-value]

    # filters and conditions, which may name a tag ----------------------------------------

    def conditions_out(self, client: UserbotClient, items: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        """Filters or conditions as the wire takes them: a tag by its Userbot id."""
        return [
            {**item, "value": self.id_of(client, item["value"])}
            if names_a_tag(item["field"], item["op"])
            else dict(item)
            for item in items
        ]

    def conditions_in(
        self, client: UserbotClient, items: Sequence[dict[str, Any]], *, field: str
    ) -> list[dict[str, str]]:
        """Filters or conditions as Userbot stores them (the object's ``field``), as documents
        hold them."""
        result = []
        for index, item in enumerate(items):
            value = item.get("value") or ""
            if names_a_tag(item["field"], item["op"]):
                value = self.name_of(client, value, field=f"{field}[{index}].value")
            result.append(condition_doc(item["field"], item["op"], value, item.get("name") or ""))
        return result


@dataclass
class TagConditions:
    """The bot's tags as the engine offers them to kinds whose filters or conditions name
    tags (segments, automated messages): ``TagBook`` over one client."""

    book: TagBook
    client: UserbotClient

    def conditions_out(self, items: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        return self.book.conditions_out(self.client, items)

    def conditions_in(self, items: Sequence[dict[str, Any]], *, field: str) -> list[dict[str, str]]:
        return self.book.conditions_in(self.client, items, field=field)


def tag_conditions(bot: Bot, client: UserbotClient) -> TagConditions:
    return TagConditions(TagBook(bot), client)
