"""A chat user's document: what both sides hold of it, in one comparable form.

``name``, ``surname``, ``email``, ``phone``, ``channel``, ``language``, ``tags`` (sorted
lower-case names, compared as a set) and ``var:<name>`` per variable. ``created_at`` and
``last_seen_at`` belong to Userbot: they are read, never pushed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

import orjson

from backoffice.sync.db import any_of
from backoffice.sync.merge import Doc
from chatusers.models import ChatUser, ChatUserTag, Variable
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


def wire_digest(user: dict[str, Any]) -> int:
    """A 64-bit digest of a chat user exactly as Userbot sent it, every field in its order:
    equal digests mean nothing changed, whatever Userbot did or did not do to ``updated_at``
    (a key order of its own only costs one look more)."""
    return int.from_bytes(blake2b(orjson.dumps(user), digest_size=8).digest(), "big", signed=True)


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
