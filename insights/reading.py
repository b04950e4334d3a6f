"""Asking Userbot for a range's numbers: every request of a refresh pipelined on one
connection, and a failure of any of them turned into one ``RefreshFailed``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request, Response
from backoffice.userbot.errors import TransportError, UserbotError

# A server that is busy (429, after the client waited it out) or failed (5xx) may answer the
# same request later; anything else it said (400, 401, 403, 404) it will say again.
TRANSIENT_STATUSES = frozenset({429})


class RefreshFailed(Exception):
    """Userbot did not answer a refresh (an error status, a timeout, no connection); nothing
    was stored. ``transient`` says whether asking again later may succeed."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def is_transient(status: int) -> bool:
    return status in TRANSIENT_STATUSES or status >= 500


def range_requests(start: date, end: date, days: Sequence[date]) -> list[Request]:
    """What a refresh of ``start``..``end`` asks: the days' activity and the range's totals
    and audience at once, then each day's NPS and sales on its own."""
    requests = [
        api.rawstats_all(from_date=start, to_date=end),
        api.rawstats_count_sessions(from_date=start, to_date=end),
        api.rawstats_count_messages(from_date=start, to_date=end),
        api.chatusers_insights(from_date=start, to_date=end),
    ]
    for day in days:
        requests.append(api.rawstats_count_nps(from_date=day, to_date=day))
        requests.append(api.rawstats_get(from_date=day, to_date=day))
    return requests


def ask(client: UserbotClient, requests: list[Request]) -> list[Any]:
    """The 200 payloads of ``requests``, in order, pipelined; RefreshFailed at the first
    request that fails (the rest are not waited for)."""
    try:
        return list(_payloads(client, requests))
    except TransportError as exc:  # no connection, or the handshake's lost
        raise RefreshFailed(f"Userbot could not be reached: {exc}", transient=True) from None
    except UserbotError as exc:  # the handshake refused: a bad key or sitekey
        raise RefreshFailed(f"Userbot refused the login: {exc}", transient=is_transient(exc.status)) from None


def _payloads(client: UserbotClient, requests: list[Request]) -> Iterator[Any]:
    for request, outcome in zip(requests, client.iter_many(requests), strict=True):
        if isinstance(outcome, TransportError):
            raise RefreshFailed(
                f"Userbot did not answer {_named(request)}: {outcome}", transient=True
            ) from None
        yield _payload(request, outcome)


def _payload(request: Request, response: Response) -> Any:
    error = response.exception()
    if error is None:
        return response.payload
    raise RefreshFailed(
        f"Userbot answered {_named(request)} with {error.status} {error.code}: {error.message}",
        transient=is_transient(error.status),
    )


def _named(request: Request) -> str:
    payload = request.payload
    if isinstance(payload, dict) and "from" in payload:
        span = (
            payload["from"] if payload["from"] == payload["to"] else f"{payload['from']} to {payload['to']}"
        )
        return f"{request.operation} for {span}"
    return request.operation
