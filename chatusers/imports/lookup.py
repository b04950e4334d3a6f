"""What the database holds for a chunk's rows: the chat users their keys name, with their
tags and variables. One query each per chunk, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Lower

from chatusers.imports.keys import row_keys
from chatusers.imports.plan import FIELDS, Existing
from chatusers.imports.validation import ParsedRow
from chatusers.models import ChatUser, ChatUserTag, Variable


def existing_chatusers(bot_id: int, rows: Sequence[ParsedRow]) -> list[Existing]:
    """The bot's chat users any of ``rows``' keys names."""
    emails, phones, refs, remote_ids = set(), set(), set(), set()
    for row in rows:
        for key in row_keys(row):
            {"e": emails, "p": phones, "c": refs, "r": remote_ids}[key[0]].add(key[2:])
    condition = Q()
    if emails:
        condition |= Q(email__isnull=False, email_lower__in=emails)
    if phones:
        condition |= Q(phone__isnull=False, phone__in=phones)
    if refs:
        condition |= Q(client_ref__in=refs)
    if remote_ids:
        condition |= Q(sync__remote_id__isnull=False, sync__remote_id__in=remote_ids)
    if not condition:
        return []
    if connection.vendor == "postgresql":
        return _existing_postgres(bot_id, emails, phones, refs, remote_ids)
    found = (
        ChatUser.objects.filter(bot_id=bot_id)
        .annotate(email_lower=Lower("email"))
        .filter(condition)
        .values_list("id", "sync__remote_id", "client_ref", *FIELDS)
    )
    return [
        Existing(id=pk, remote_id=remote_id, client_ref=ref, values=dict(zip(FIELDS, values, strict=True)))
        for pk, remote_id, ref, *values in found
    ]


def _existing_postgres(
    bot_id: int, emails: set[str], phones: set[str], refs: set[str], remote_ids: set[str]
) -> list[Existing]:
    """The same query as a UNION of one index lookup per key, with each key set as one
    array parameter (thousands of IN parameters cost more to send than to look up)."""
    columns = ", ".join(["c.id", "s.remote_id", *(f"c.{name}" for name in ("client_ref", *FIELDS))])
    chatuser = (
        "chatusers_chatuser c ON {} AND c.bot_id = %s JOIN chatusers_chatusersync s ON s.chatuser_id = c.id"
    )
    parts, params = [], []
    # The IS NOT NULL conditions match the partial unique indexes' own, so they serve. A
    # Userbot id is looked up in the sync records, beside the chat users.
    for joined, values in (
        (chatuser.format("lower(c.email) = k.value AND c.email IS NOT NULL"), emails),
        (chatuser.format("c.phone = k.value AND c.phone IS NOT NULL"), phones),
        (chatuser.format("c.client_ref = k.value"), refs),
        (
            "chatusers_chatusersync s ON s.remote_id = k.value AND s.remote_id IS NOT NULL AND s.bot_id = %s"
            " JOIN chatusers_chatuser c ON c.id = s.chatuser_id",
            remote_ids,
        ),
    ):
        if values:
            parts.append(f"SELECT {columns} FROM unnest(%s::text[]) AS k(value) JOIN {joined}")  # noqa: S608
            params += [list(values), bot_id]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ".join(parts), params)
        found = cursor.fetchall()
    return [
        Existing(id=pk, remote_id=remote_id, client_ref=ref, values=dict(zip(FIELDS, values, strict=True)))
        for pk, remote_id, ref, *values in found
    ]


def tags_and_variables(
    ids: list[int],
) -> tuple[dict[int, set[int]], dict[int, dict[str, str]], dict[int, str]]:
    """The tags (ids) and variables of these chat users, and the names of those tags."""
    tags: dict[int, set[int]] = {pk: set() for pk in ids}
    tag_names: dict[int, str] = {}
    variables: dict[int, dict[str, str]] = {pk: {} for pk in ids}
    if not ids:
        return tags, variables, tag_names
    for chatuser_id, tag_id, name in ChatUserTag.objects.filter(chatuser_id__in=ids).values_list(
        "chatuser_id", "tag_id", "tag__name"
    ):
        tags[chatuser_id].add(tag_id)
        tag_names[tag_id] = name
    for chatuser_id, name, value in Variable.objects.filter(chatuser_id__in=ids).values_list(
        "chatuser_id", "name", "value"
    ):
        variables[chatuser_id][name] = value
    return tags, variables, tag_names
