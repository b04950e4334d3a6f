"""A lead's visits and key people: read from Userbot when its page opens, and kept.

What Userbot gives is kept as it came (``LeadDetails``), with the problems found in it
listed beside (a visit that ends before it starts, a key person lacking a field): the page
shows them as they are, never fails on them. When Userbot cannot be reached, the page shows
the kept copy and when it was read; a 404 says the lead is gone from Userbot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from backoffice.sync.kinds import failure_of, parse_time
from backoffice.userbot.codec import Response
from backoffice.userbot.connections import client_for
from backoffice.userbot.errors import ConnectFailed, ProtocolError, TransportError, UserbotError
from leads.models import Lead, LeadDetails
from leads.wire import VISIT_TIMES, checked_array, detail_requests

UNREACHABLE = (ConnectFailed, TransportError, UserbotError, ProtocolError, RuntimeError, OSError)


@dataclass(frozen=True)
class DetailsRead:
    """What opening a lead's page learnt: the kept copy (fresh or older), and why it is not
    fresh (``error``), or that Userbot no longer has the lead (``gone``)."""

    details: LeadDetails | None
    fresh: bool
    gone: bool = False
    error: str = ""


def lead_details_read(*, lead: Lead) -> DetailsRead:
    """Read the lead's visits and key people from Userbot and keep them; on failure, the
    copy kept before (if any) and why."""
    kept = LeadDetails.objects.filter(lead=lead).first()
    if not lead.remote_id:
        return DetailsRead(kept, fresh=False, error="The lead has no Userbot id.")
    try:
        with client_for(lead.bot, reconnect_attempts=1, max_rate_limit_retries=0) as client:
            visits, people = list(client.iter_many(detail_requests(lead.remote_id)))
    except UNREACHABLE as exc:
        return DetailsRead(kept, fresh=False, error=f"Userbot could not be reached: {exc}")
    if any(isinstance(o, Response) and o.status == 404 for o in (visits, people)):
        return DetailsRead(kept, fresh=False, gone=True, error="The lead is gone from Userbot.")
    for outcome in (visits, people):
        failure = failure_of(outcome)
        if failure is not None:
            return DetailsRead(kept, fresh=False, error=f"Userbot did not answer: {failure.message}")
    visit_rows, people_rows = visits.payload, people.payload  # type: ignore[union-attr]
    if not isinstance(visit_rows, list) or not isinstance(people_rows, list):
        return DetailsRead(kept, fresh=False, error="Userbot's answer is not a list.")
    details, _ = LeadDetails.objects.update_or_create(
        lead=lead,
        defaults={
            "visits": visit_rows,
            "people": people_rows,
            "warnings": warnings_of(visit_rows, people_rows),
            "read_at": timezone.now(),
        },
    )
    return DetailsRead(details, fresh=True)


def warnings_of(visits: list[Any], people: list[Any]) -> list[str]:
    """What is wrong with the visits and people as Userbot gave them, in words."""
    warnings = []
    for noun, operation, rows, times in (
        ("visit", "intel.visitdetails", visits, VISIT_TIMES),
        ("key person", "intel.keypeople", people, ()),
    ):
        _, refused = checked_array(operation, rows, times=times)
        warnings += [f"A {noun} is not as Userbot's contract says ({r.reason})." for r in refused]
    for visit in visits:
        landed, left = _time(visit, "landed_at"), _time(visit, "left_at")
        if landed and left and left < landed:
            warnings.append(f"A visit to {visit.get('url')} ends before it starts.")
    return warnings


def _time(row: Any, name: str) -> datetime | None:
    value = row.get(name) if isinstance(row, dict) else None
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def time_on_page(visit: Any) -> str:
    """How long a visitor stayed on a page, in words; "" when it cannot be told."""
    landed, left = _time(visit, "landed_at"), _time(visit, "left_at")
    if landed is None:
        return ""
    if left is None:
        return "still there"
    seconds = int((left - landed).total_seconds())
    if seconds < 0:
        return "?"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
