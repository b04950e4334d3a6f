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
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.models import Bot
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable

FIELDS = ("name", "surname", "email", "phone", "channel", "language")
VAR = "var:"


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


class TagBook:
    """The bot's tags both ways: Userbot id to lower-case name, and lower-case name to Tag."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.reload()

    def reload(self) -> None:
        self.by_name = {tag.name.lower(): tag for tag in Tag.objects.filter(bot=self.bot)}
        self.names = {tag.remote_id: name for name, tag in self.by_name.items() if tag.remote_id}

    def names_for(self, client: UserbotClient, tag_ids: Iterable[str]) -> dict[str, str]:
        """``names``, after reading Userbot's tags again if one of these ids is not in it."""
        if any(tag_id not in self.names for tag_id in tag_ids):
            self.learn(client.call(api.chatusers_get_bot_tags())["tags"])
        return self.names

    def learn(self, remote_tags: Iterable[dict[str, Any]]) -> int:
        """Mirror Userbot's tags (their colour is Userbot's); returns how many were new here."""
        new = 0
        for remote in remote_tags:
            key = remote["name"].lower()
            tag = self.by_name.get(key)
            if tag is None:
                tag = Tag.objects.create(
                    bot=self.bot, name=remote["name"], color=remote["color"], remote_id=remote["id"]
                )
                self.by_name[key] = tag
                new += 1
            elif tag.remote_id != remote["id"] or tag.color != remote["color"]:
                Tag.objects.filter(remote_id=remote["id"], bot=self.bot).exclude(pk=tag.pk).update(
                    remote_id=None
                )
                tag.remote_id, tag.color = remote["id"], remote["color"]
                tag.save(update_fields=["remote_id", "color"])
            self.names[remote["id"]] = key
        return new
