"""A chat user's document: what both sides hold of it, in one comparable form.

``name``, ``surname``, ``email``, ``phone``, ``channel``, ``language``, ``tags`` (sorted
lower-case names, compared as a set) and ``var:<name>`` per variable. ``created_at`` and
``last_seen_at`` belong to Userbot: they are read, never pushed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from backoffice.sync.db import any_of
from backoffice.sync.merge import Doc
from backoffice.sync.objects import RemoteList, read_list
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.models import Bot
from backoffice.userbot.schema import Rejected
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable
from chatusers.validators import email_problem

FIELDS = ("name", "surname", "email", "phone", "channel", "language")
VAR = "var:"
TIMES = ("created_at", "updated_at", "last_seen_at")  # a chat user's times on the wire


def local_docs(chatusers: Sequence[ChatUser]) -> dict[int, Doc]:
    """Each chat user's document, in three queries whatever their number."""
    ids = any_of([c.pk for c in chatusers])
    tags: dict[int, list[str]] = defaultdict(list)
    for chatuser_id, name in ChatUserTag.objects.filter(chatuser_id__in=ids).values_list(
        "chatuser_id", "tag__name"
    ):
        tags[chatuser_id].append(name.lower())
    variables: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for chatuser_id, name, value in Variable.objects.filter(chatuser_id__in=ids).values_list(
        "chatuser_id", "name", "value"
    ):
        variables[chatuser_id].append((name, value))
    docs = {}
    for c in chatusers:
        doc: Doc = {field: getattr(c, field) for field in FIELDS}
        doc["tags"] = sorted(tags.get(c.pk, ()))
        for name, value in variables.get(c.pk, ()):
            doc[VAR + name] = value
        docs[c.pk] = doc
    return docs


def remote_doc(remote: dict[str, Any], tag_names: dict[str, str]) -> Doc:
    """The document of a chat user as Userbot sent it; ``tag_names`` maps tag id to lower name."""
    doc: Doc = {field: remote.get(field) for field in FIELDS}
    doc["name"], doc["surname"] = doc["name"] or "", doc["surname"] or ""
    doc["language"] = doc["language"] or ""
    doc["email"], doc["phone"] = doc["email"] or None, doc["phone"] or None
    doc["tags"] = sorted(tag_names[tag_id] for tag_id in remote.get("tags") or ())
    for variable in remote.get("variables") or ():
        doc[VAR + variable["name"]] = variable["value"]
    return doc


def chatuser_problems(user: dict[str, Any]) -> dict[str, str]:
    """What a chat user here cannot hold of one the schema passed: an email ``EmailField``
    refuses (the schema's pattern is looser), a variable set twice."""
    problems = {}
    email = user["email"]
    if email is not None and (why := email_problem(email)):
        problems["email"] = why
    variables = user["variables"]
    if len(variables) > 1 and len({v["name"] for v in variables}) < len(variables):
        problems["variables"] = "sets a variable twice"
    return problems


class TagBook:
    """The bot's tags both ways: Userbot id to lower-case name, and lower-case name to Tag."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.new = 0  # tags the last ``read`` made here
        self.reload()

    def reload(self) -> None:
        self.by_name = {tag.name.lower(): tag for tag in Tag.objects.filter(bot=self.bot)}
        self.names = {tag.remote_id: name for name, tag in self.by_name.items() if tag.remote_id}

    def names_for(self, client: UserbotClient, tag_ids: Iterable[str]) -> dict[str, str]:
        """``names``, after reading Userbot's tags again if one of these ids is not in it
        (ReadFailed if they cannot be read)."""
        if any(tag_id not in self.names for tag_id in tag_ids):
            self.read(client)
        return self.names

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
