"""Which chat user here each chat user of a page from Userbot is: the one with its Userbot id,
or, for one created here whose create was never confirmed, the one it adopts (our client_ref,
the same email or phone). Read with what the reconcile needs of them: their fields, their sync
record, and whether a push of theirs waits or is on its way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from backoffice.sync.db import any_of
from backoffice.sync.models import OutboxEntry, with_records
from backoffice.sync.untrusted import KEPT_PREFIX
from chatusers.models import ChatUser, ChatUserSync
from chatusers.sync.documents import FIELDS

LABEL = "chatusers.chatuser"


def has_unlinked(bot: Any) -> bool:
    """Whether any chat user of ``bot`` has no Userbot id yet: a bot whose chat users all came
    from Userbot (a first load) needs no adoption lookups."""
    return ChatUserSync.objects.filter(bot=bot, remote_id__isnull=True).exists()


@dataclass
class Met:
    """The records of a scan's batches that were synced before it started: how many, and
    the sum of their keys (a record met twice is not told apart here: the scan knows)."""

    count: int = 0
    keys: int = 0

    def add(self, other: Met) -> None:
        self.count, self.keys = self.count + other.count, self.keys + other.keys


def to_look_at(bot: Any, digests: dict[str, int], *, before: Any) -> tuple[list[str], Met]:
    """Of Userbot's chat users (Userbot id -> ``wire_digest``), the ids a pull must look at:
    no sync record here holds the id, or the record's digest is another or unknown, or it is
    flagged for a version it refused; and the records met that were synced ``before`` (a
    complete scan that met every one of those has no deletion to look for). One statement,
    set-based: a chat user as last synced costs an index probe and nothing here."""
    if not digests:
        return [], Met()
    if connection.vendor == "postgresql":
        source, rid, digest = "jsonb_array_elements(%s::jsonb) AS e", "e->>0", "(e->>1)::bigint"
    else:
        source, rid, digest = "json_each(%s) AS e", "e.value->>0", "e.value->>1"
    # One probe of the (bot, Userbot id) index per chat user, as a subquery (a join would let
    # the planner hash the bot's every record for each batch, a cost that grows with the
    # bot), giving one number: the record's key times 4, plus 2 if it was synced before,
    # plus 1 if it is as last synced. The table comes from the model's meta, never input.
    query = (
        f"WITH p AS (SELECT u.rid, (SELECT s.chatuser_id * 4"  # noqa: S608
        " + CASE WHEN s.synced_at < %s THEN 2 ELSE 0 END"
        " + CASE WHEN s.wire_digest = u.digest AND s.sync_error NOT LIKE %s THEN 1 ELSE 0 END"
        f" FROM {ChatUserSync._meta.db_table} AS s WHERE s.bot_id = %s AND s.remote_id = u.rid) AS code"
        f" FROM (SELECT {rid} AS rid, {digest} AS digest FROM {source}) AS u)"
        " SELECT rid, NULL, NULL FROM p WHERE code IS NULL OR code %% 2 = 0"
        " UNION ALL SELECT NULL, COUNT(*), SUM(code / 4) FROM p WHERE code %% 4 >= 2"
    )
    params = [
        connection.ops.adapt_datetimefield_value(before),
        KEPT_PREFIX + "%",
        bot.pk,
        orjson.dumps(list(digests.items())).decode(),
    ]
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    met = next((Met(count, keys or 0) for rid, count, keys in rows if rid is None), Met())
    return [rid for rid, _, _ in rows if rid is not None], met


def matches(bot: Any, remote: dict[str, dict[str, Any]], *, adopt: bool) -> dict[str, ChatUser]:
    """The chat users here of ``remote`` (by Userbot id), each annotated ``in_flight`` and
    ``pending``; with ``adopt``, unlinked ones are matched too."""
    # By the records' (bot, Userbot id) index first: a join from the chat users' side may
    # walk every chat user of the bot to probe its record.
    linked = ChatUserSync.objects.filter(bot=bot, remote_id__in=any_of(list(remote), "text"))
    found = list(_locals(bot).filter(pk__in=any_of(list(linked.values_list("pk", flat=True)))))
    if adopt:
        # Two queries, not an OR: each arm here is a range of an index of the chat user's
        # table, which an OR with the record's Userbot id would turn into a scan of it.
        refs = [u["client_ref"] for u in remote.values() if u.get("client_ref")]
        emails = [u["email"].lower() for u in remote.values() if u.get("email")]
        phones = [u["phone"] for u in remote.values() if u.get("phone")]
        found.extend(
            _locals(bot)
            .alias(email_lower=Lower("email"))
            .filter(Q(client_ref__in=refs) | Q(email_lower__in=emails) | Q(phone__in=phones))
            .filter(sync__remote_id__isnull=True)
        )
    return _match(remote, found)


def _locals(bot: Any) -> QuerySet[ChatUser]:
    in_flight = OutboxEntry.objects.filter(
        object_type=LABEL, object_id=OuterRef("pk"), state=OutboxEntry.State.IN_FLIGHT
    )
    pending = OutboxEntry.objects.filter(
        object_type=LABEL,
        object_id=OuterRef("pk"),
        state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.DEAD],
    )
    # Every document field (a changed chat user's document is read from these), and the
    # times a write of Userbot's version compares.
    return with_records(
        ChatUser.objects.filter(bot=bot).annotate(in_flight=Exists(in_flight), pending=Exists(pending)),
        "id",
        "client_ref",
        "created_at",
        "last_seen_at",
        *FIELDS,
        "sync__wire_digest",
    )


def _match(remote: dict[str, dict[str, Any]], locals_: list[ChatUser]) -> dict[str, ChatUser]:
    by_remote = {c.remote_id: c for c in locals_ if c.remote_id}
    unlinked = [c for c in locals_ if not c.remote_id]
    by_ref = {c.client_ref: c for c in unlinked}
    by_email = {c.email.lower(): c for c in unlinked if c.email}
    by_phone = {c.phone: c for c in unlinked if c.phone}
    matched: dict[str, ChatUser] = {}
    taken: set[int] = set()
    for rid, user in remote.items():
        local = by_remote.get(rid)
        if local is None:
            for candidate in (
                by_ref.get(user.get("client_ref") or ""),
                by_email.get((user.get("email") or "").lower()),
                by_phone.get(user.get("phone") or ""),
            ):
                if candidate is not None and candidate.pk not in taken:
                    local = candidate
                    break
        if local is not None:
            matched[rid] = local
            taken.add(local.pk)
    return matched


def deleted_here(bot: Any, remote: dict[str, dict[str, Any]]) -> set[str]:
    """The chat users of ``remote`` whose local deletion waits in the outbox (in any state: a
    dead deletion is still the operator's wish), by Userbot id or client_ref."""
    deletions = OutboxEntry.objects.filter(bot=bot, object_type=LABEL, deleted=True)
    if not deletions.exists():
        return set()
    refs = {u["client_ref"]: rid for rid, u in remote.items() if u.get("client_ref")}
    found = deletions.filter(Q(remote_id__in=list(remote)) | Q(client_ref__in=list(refs)))
    gone = set()
    for remote_id, client_ref in found.values_list("remote_id", "client_ref"):
        gone.add(remote_id if remote_id in remote else refs.get(client_ref, ""))
    return gone - {""}
