"""The sandbox's lead intelligence (companies that visited the site) and meeting bookings.

Choices the wire contract leaves open, made here:

- Leads are listed in creation order. A lead's tags are plain strings compared
  case-insensitively: adding a tag that differs only in case from one the lead has
  changes nothing, and removing matches regardless of case.
- ``meetings.schedule`` takes ``start_time`` and ``end_time`` as ISO 8601 times with a
  zone and needs the end after the start; ``invitee_email`` must look like an address.
  ``meetings.decline`` takes any ``reason`` string, empty included. Both are recorded in
  the bot's meetings with ``kind`` ``scheduled`` or ``declined`` and the time of the request.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sandbox.registry import Context, invalid, not_found, operation
from sandbox.store import JSONDict, iso_ms

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise invalid("the payload must be a JSON object", {"payload": "must be an object"})
    return payload


def _required_texts(payload: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {
        name: "required, a non-empty string"
        for name in names
        if not isinstance(payload.get(name), str) or not payload[name].strip()
    }


def _lead(ctx: Context, payload: Any) -> JSONDict:
    payload = _object(payload)
    fields = _required_texts(payload, ("lead_id",))
    if fields:
        raise invalid("lead_id is required", fields)
    lead = ctx.bot.leads.get(payload["lead_id"])
    if lead is None:
        raise not_found(f"no lead {payload['lead_id']}")
    return lead


def _tag_request(ctx: Context, payload: Any) -> tuple[JSONDict, str]:
    payload = _object(payload)
    fields = _required_texts(payload, ("lead_id", "tag"))
    if fields:
        raise invalid("lead_id and tag are required", fields)
    lead = ctx.bot.leads.get(payload["lead_id"])
    if lead is None:
        raise not_found(f"no lead {payload['lead_id']}")
    return lead, payload["tag"].strip()


@operation("intel.leadlist")
def leadlist(ctx: Context, payload: Any) -> list[JSONDict]:
    """Every lead of the bot."""
    return list(ctx.bot.leads.values())


@operation("intel.visitdetails")
def visitdetails(ctx: Context, payload: Any) -> list[JSONDict]:
    """The pages a lead's visitors saw, in the order they landed."""
    lead = _lead(ctx, payload)
    return list(ctx.bot.lead_visits.get(lead["id"], []))


@operation("intel.keypeople")
def keypeople(ctx: Context, payload: Any) -> list[JSONDict]:
    """The people known at a lead's company."""
    lead = _lead(ctx, payload)
    return list(ctx.bot.lead_people.get(lead["id"], []))


@operation("intel.addtag")
def addtag(ctx: Context, payload: Any) -> JSONDict:
    """Tag a lead; a tag it already has changes nothing."""
    lead, tag = _tag_request(ctx, payload)
    if tag.lower() not in {t.lower() for t in lead["tags"]}:
        lead["tags"] = [*lead["tags"], tag]
    return {"lead_id": lead["id"], "tags": list(lead["tags"])}


@operation("intel.removetag")
def removetag(ctx: Context, payload: Any) -> JSONDict:
    """Untag a lead; a tag it does not have changes nothing."""
    lead, tag = _tag_request(ctx, payload)
    kept = [t for t in lead["tags"] if t.lower() != tag.lower()]
    if len(kept) != len(lead["tags"]):
        lead["tags"] = kept
    return {"lead_id": lead["id"], "tags": list(lead["tags"])}


def _time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@operation("meetings.schedule")
def meetings_schedule(ctx: Context, payload: Any) -> JSONDict:
    """Record a meeting booked with a chat user."""
    payload = _object(payload)
    names = ("chatuser_id", "event_uri", "start_time", "end_time", "invitee_email")
    fields = _required_texts(payload, names)
    times: dict[str, datetime] = {}
    for name in ("start_time", "end_time"):
        if name not in fields:
            moment = _time(payload[name])
            if moment is None:
                fields[name] = "an ISO 8601 time with a zone"
            else:
                times[name] = moment
    if len(times) == 2 and times["end_time"] <= times["start_time"]:
        fields["end_time"] = "must be after start_time"
    if "invitee_email" not in fields and not _EMAIL.fullmatch(payload["invitee_email"]):
        fields["invitee_email"] = "an email address"
    if fields:
        raise invalid("invalid meeting", fields)
    if payload["chatuser_id"] not in ctx.bot.chatusers:
        raise not_found(f"no chat user {payload['chatuser_id']}")
    ctx.bot.meetings.append(
        {
            "id": ctx.store.new_id(),
            "kind": "scheduled",
            "chatuser_id": payload["chatuser_id"],
            "event_uri": payload["event_uri"],
            "start_time": payload["start_time"],
            "end_time": payload["end_time"],
            "invitee_email": payload["invitee_email"],
            "at": iso_ms(ctx.stamp()),
        }
    )
    return {"ok": True}


@operation("meetings.decline")
def meetings_decline(ctx: Context, payload: Any) -> JSONDict:
    """Record that a chat user declined a meeting, and why."""
    payload = _object(payload)
    fields = _required_texts(payload, ("chatuser_id",))
    if not isinstance(payload.get("reason"), str):
        fields["reason"] = "required, a string"
    if fields:
        raise invalid("invalid decline", fields)
    if payload["chatuser_id"] not in ctx.bot.chatusers:
        raise not_found(f"no chat user {payload['chatuser_id']}")
    ctx.bot.meetings.append(
        {
            "id": ctx.store.new_id(),
            "kind": "declined",
            "chatuser_id": payload["chatuser_id"],
            "reason": payload["reason"],
            "at": iso_ms(ctx.stamp()),
        }
    )
    return {"ok": True}
