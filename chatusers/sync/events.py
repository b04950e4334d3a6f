"""The fast path for chat users: ``chatusers.changed`` events, applied within a second or so.

``refresh_chatusers`` skips the echoes of our own pushes (an ``updated_at`` already
recorded), finds the changed chat users by a targeted read (a search on the email or phone
we know, or the newest page for ones created there), and applies them with the same code
as the full scan (``settle.Settler``). What it cannot find is left to the periodic pull.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from backoffice.sync.kinds import PullContext, failure_of, parse_time
from backoffice.sync.pull import bot_sync
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.models import Bot
from chatusers.models import ChatUserSync
from chatusers.sync.settle import Settler
from chatusers.sync.tags import TagBook

SEARCH_LIMIT = 50
TAIL = 1000


def refresh_chatusers(bot: Bot, events: list[dict[str, Any]], *, client: UserbotClient) -> dict[str, int]:
    """Apply the chat users these events name, reading over ``client`` (it connects at its
    first request: a batch of echoes alone never does); returns counts, with ``unresolved``
    for the ones only a full pull can settle."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        latest[event["id"]] = event  # the last word on each chat user
    known = {
        row["remote_id"]: row
        for row in ChatUserSync.objects.filter(bot=bot, remote_id__in=list(latest)).values(
            "pk", "remote_id", "remote_updated_at", email=F("chatuser__email"), phone=F("chatuser__phone")
        )
    }
    gone = [rid for rid, e in latest.items() if e["op"] == "deleted" and rid in known]
    wanted = {
        rid
        for rid, e in latest.items()
        if e["op"] != "deleted"
        and (rid not in known or known[rid]["remote_updated_at"] != parse_time(e.get("updated_at")))
    }
    counts = {"echoes": len(latest) - len(wanted) - len(gone), "applied": 0, "deleted": 0, "unresolved": 0}
    if not wanted and not gone:
        return counts
    ctx = PullContext(
        bot=bot,
        settings=bot_sync(bot),
        client=client,
        started_at=timezone.now(),
        renew_lease=lambda: None,
    )
    settler = Settler(ctx, TagBook(bot))
    found = _find(client, wanted, known)
    if found:
        settler.apply(list(found.values()))
        counts["applied"] = len(found)
    if gone:
        counts["deleted"] = settler.remove_gone([(known[rid]["pk"], rid) for rid in gone])
    counts["unresolved"] = len(wanted) - len(found)
    return counts


def _find(
    client: UserbotClient, wanted: set[str], known: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The chat users of ``wanted`` as Userbot has them now, as far as targeted reads find them."""
    found: dict[str, dict[str, Any]] = {}
    searchable = [(rid, known[rid]["email"] or known[rid]["phone"]) for rid in wanted if rid in known]
    searchable = [(rid, term) for rid, term in searchable if term]
    requests = (api.chatusers_get(offset=0, limit=SEARCH_LIMIT, search=term) for _, term in searchable)
    for (rid, _), outcome in zip(searchable, client.iter_many(requests), strict=True):
        if failure_of(outcome) is None:
            found.update({u["id"]: u for u in _page(outcome.payload) if u.get("id") == rid})  # type: ignore[union-attr]
    if wanted - set(found):
        # Chat users created on Userbot, or whose email and phone changed: the newest come last.
        first = client.call(api.chatusers_get(offset=0, limit=1))
        total = first.get("total") if isinstance(first, dict) else None
        if not isinstance(total, int) or total < 0:
            return found  # an answer that says no total: the pull will settle the rest
        tail = _page(client.call(api.chatusers_get(offset=max(0, total - TAIL), limit=TAIL)))
        found.update({u["id"]: u for u in tail if u.get("id") in wanted and u["id"] not in found})
    return found


def _page(payload: Any) -> list[dict[str, Any]]:
    """The objects of a ``chatusers.get`` answer that are objects at all; what they hold is
    checked where they are applied (``Settler.apply``), and an answer that is no page is none."""
    users = payload.get("chatusers") if isinstance(payload, dict) else None
    return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []
