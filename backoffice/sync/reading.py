"""Reading Userbot's lists, and the wire a kind translates its documents over.

Every answer is untrusted: a list is checked as a whole (its envelope) and then object by
object (``untrusted.checked``); an object that fails is skipped with its reason, and the
rest go on. ``RemoteList.complete`` says whether an object missing from the list was
surely deleted on Userbot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backoffice.sync.kinds import ConditionMapper, Failure, PushItem, failure_of, mapper_for
from backoffice.sync.untrusted import checked
from backoffice.userbot import schema
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request
from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.models import Bot
from backoffice.userbot.schema import Rejected

LIST_PAGE = 1000


@dataclass
class Wire:
    """One bot's Userbot for a push or a pull: the client, and the mappers a kind's documents
    need (``mapper``), each made once per wire."""

    bot: Bot
    client: UserbotClient
    _mappers: dict[str, ConditionMapper] = field(default_factory=dict, init=False, repr=False)

    def mapper(self, name: str) -> ConditionMapper:
        """The mapper registered under ``name`` (``kinds.register_mapper``), for this bot."""
        if name not in self._mappers:
            self._mappers[name] = mapper_for(name, self.bot, self.client)
        return self._mappers[name]


@dataclass
class RemoteList:
    """Userbot's objects of a kind; ``complete`` when they are surely all of them, so that an
    object missing from it was deleted there. ``rejected`` are the objects of the list that
    failed the checks (``untrusted``): skipped, each with why."""

    objects: list[dict[str, Any]]
    complete: bool = True
    rejected: list[Rejected] = field(default_factory=list)


class Unsendable(Exception):
    """A document that cannot be put on the wire now: why, and whether later may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class Unreadable(Exception):
    """A remote object this side cannot read (it names something Userbot does not list);
    ``field`` is the field of the object that says it."""

    def __init__(self, message: str, *, field: str = "object") -> None:
        super().__init__(message)
        self.field = field


class ReadFailed(Exception):
    """Reading a list from Userbot failed: no answer, an error status, or an answer that is
    not the list it should be."""

    def __init__(self, operation: str, failure: Failure) -> None:
        super().__init__(f"{operation}: {failure.message}")
        self.operation = operation
        self.failure = failure


def read(client: UserbotClient, request: Request) -> Any:
    """The 200 payload of one read, or ReadFailed saying whether trying later may help."""
    outcome = next(client.iter_many([request]))
    failure = failure_of(outcome)
    if failure is not None:
        raise ReadFailed(request.operation, failure)
    return outcome.payload  # type: ignore[union-attr]


def list_answer(operation: str, payload: Any, key: str) -> Any:
    """``payload`` if it is an answer of ``operation`` whose ``key`` is a list (whatever its
    objects); else ReadFailed, naming what is wrong."""
    try:
        schema.check_envelope(operation, payload, key)
    except PayloadInvalid as exc:
        message = describe(Failure("the answer is not valid", True, exc.fields))
        raise ReadFailed(operation, Failure(message, transient=True)) from None
    return payload


def read_list(
    client: UserbotClient, request: Request, key: str, *, times: Sequence[str] = ("updated_at",)
) -> RemoteList:
    """The objects of a list answered whole (``{key: [...]}``), checked one by one."""
    payload = list_answer(request.operation, read(client, request), key)
    found = checked(request.operation, key, payload[key], times=times)
    return RemoteList(found.items, rejected=found.rejected)


def read_pages(
    client: UserbotClient,
    build: Any,
    key: str,
    *,
    page: int = LIST_PAGE,
    times: Sequence[str] = ("updated_at",),
) -> RemoteList:
    """Every item of a paged list (``build(offset=, limit=)`` answering ``{"total", key}``),
    the pages after the first pipelined, checked one by one. Paging by offset can skip an
    item when another is deleted meanwhile, so the list is complete only if the total held
    still throughout and the items (valid or not) add up to it."""
    request = build(offset=0, limit=page)
    operation = request.operation
    first = list_answer(operation, read(client, request), key)
    total = first["total"]
    items = list(first[key])
    totals = {total}
    offsets = range(page, total + page, page) if len(first[key]) == page else range(0)
    for outcome in client.iter_many(build(offset=o, limit=page) for o in offsets):
        failure = failure_of(outcome)
        if failure is not None:
            raise ReadFailed(operation, failure)
        answer = list_answer(operation, outcome.payload, key)  # type: ignore[union-attr]
        totals.add(answer["total"])
        items.extend(answer[key])
        if len(answer[key]) < page:
            break  # past the end, whatever the first page's total said
    found = checked(operation, key, items, times=times)
    ids = {schema.object_id(item) for item in items} - {None}
    complete = len(totals) == 1 and len(ids) == len(items) == total
    return RemoteList(found.items, complete=complete, rejected=found.rejected)


def sendable(item: PushItem, request: Request) -> bool:
    """Whether the contract lets ``request`` go to Userbot: one it refuses fails ``item`` for
    good, with the fields it names, and is never sent."""
    try:
        schema.validate_request(request.operation, request.payload)
    except PayloadInvalid as exc:
        failure = Failure(f"not valid for Userbot: {exc.message}", False, exc.fields)
        item.fail(describe(failure), transient=False)
        return False
    return True


def describe(failure: Failure) -> str:
    """A failure with the fields Userbot named, for the operator reading a dead entry."""
    if not failure.fields:
        return failure.message
    named = "; ".join(f"{name}: {why}" for name, why in sorted(failure.fields.items()))
    return f"{failure.message} ({named})"
