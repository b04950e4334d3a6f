"""What the engine needs to know of each kind of synced object, and the registry of kinds.

A kind turns local objects into documents (``merge.Doc``), pushes claimed changes to
Userbot, and pulls Userbot's objects back. The engine (``relay``, ``pull``) owns claiming,
retries, completion, conflicts and bookkeeping; a kind owns only the mapping to the wire.
Each domain app declares its kinds in its ``sync.py``, registered when the app is ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from backoffice.sync.merge import Doc
from backoffice.sync.untrusted import REASON_MAX, reason
from backoffice.userbot.codec import Response
from backoffice.userbot.errors import TransportError
from backoffice.userbot.schema import Rejected

if TYPE_CHECKING:
    from backoffice.operations.progress import Progress
    from backoffice.sync.models import BotSync, OutboxEntry, SyncedModel
    from backoffice.userbot.client import UserbotClient
    from backoffice.userbot.models import Bot

# Statuses that say "try again later, unchanged": the request changed nothing, or may not
# have reached the server. 401 and 403 mean the key or the bot is wrong right now; they
# are retried (an operator may fix the key) rather than thrown away.
TRANSIENT_STATUSES = frozenset({401, 403, 429, 500, 502, 503, 504})
# Where a pull's report lists the objects of Userbot's it skipped, and how many at most: the
# counts go on past it, the list is for an operator to find the first ones.
SKIPPED = "skipped"
SKIPPED_SHOWN = 50


@dataclass
class PushItem:
    """One claimed outbox entry on its way to Userbot, and what came of it so far.

    ``snapshot`` starts as the last synced document and follows every part Userbot has
    confirmed, so a push that fails half way still records the half that took effect.
    """

    entry: OutboxEntry
    obj: SyncedModel | None
    local: Doc | None
    snapshot: Doc | None
    remote_id: str | None
    remote_updated_at: datetime | None = None
    # A digest of the whole object Userbot answered with, when it showed one that is
    # exactly ``snapshot`` (chat users: ``wire_digest``).
    remote_digest: int | None = None
    error: str = ""
    transient: bool = False
    # Set when Userbot's copy changed under a pending change: a pull must merge it first.
    needs_pull: bool = False

    @property
    def deleted(self) -> bool:
        return self.entry.deleted

    def fail(self, message: str, *, transient: bool) -> None:
        """Record a failure; a permanent one outweighs a transient one of another part."""
        if self.error and not self.transient:
            return
        self.error, self.transient = message, transient

    def hold_for_pull(self, keys: Iterable[str]) -> None:
        """Userbot changed these fields too since the last sync: our change waits (a
        transient failure) and a pull is asked for, which merges the two under the bot's
        conflict policy."""
        self.fail(
            f"Changed on Userbot as well ({', '.join(keys)}); the next pull settles it.", transient=True
        )
        self.needs_pull = True

    def confirm(
        self,
        *,
        remote_id: str | None = None,
        snapshot: Doc | None = None,
        updated_at: Any = None,
        digest: int | None = None,
    ) -> None:
        if remote_id:
            self.remote_id = remote_id
        if snapshot is not None:
            self.snapshot = snapshot
            self.remote_digest = None  # of an object before this part, unless given again
        if digest is not None:
            self.remote_digest = digest
        if updated_at is not None:
            stamp = parse_time(updated_at) if isinstance(updated_at, str) else updated_at
            if self.remote_updated_at is None or stamp > self.remote_updated_at:
                self.remote_updated_at = stamp


@dataclass
class PullContext:
    """What one reconciliation of a bot shares between its kinds."""

    bot: Bot
    settings: BotSync
    client: UserbotClient
    started_at: datetime
    renew_lease: Callable[[], None]
    report: dict[str, Any] = field(default_factory=dict)
    # Told how far the run has read (an operator's re-pull follows it); may stop the run.
    progress: Progress | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, kind: str, what: str, n: int = 1) -> None:
        """Add to the run's report; batches applied in threads of their own count here too."""
        if n:
            with self._lock:
                counts = self.report.setdefault(kind, {})
                counts[what] = counts.get(what, 0) + n

    def skip(self, kind: str, rejected: Rejected) -> None:
        """Record an object of Userbot's that this run skipped, and why: counted under the
        kind, and listed (the first ``SKIPPED_SHOWN`` of the run) under ``skipped``."""
        entry = {
            "kind": kind,
            "id": rejected.id or "",
            "field": ", ".join(rejected.fields)[:REASON_MAX],
            "reason": reason(rejected),
        }
        with self._lock:
            counts = self.report.setdefault(kind, {})
            counts["skipped"] = counts.get("skipped", 0) + 1
            shown = self.report.setdefault(SKIPPED, [])
            if len(shown) < SKIPPED_SHOWN:
                shown.append(entry)


class SyncKind:
    """Base of a kind: subclasses set ``label``/``model`` and implement the hooks."""

    label: str = ""
    model: type[SyncedModel]
    # The order kinds are pulled in: a kind that others refer to (tags) goes first.
    pull_order: int = 100
    # The fields a push reads of its objects (None: all of them), beside their sync record
    # (always read). A kind pushed by the thousand names them, so the relay does not parse
    # columns it never looks at.
    push_fields: tuple[str, ...] | None = None
    # The ``subscribe`` topic and the event of it that name changed objects of the kind
    # (the fast path from Userbot), for a kind that has one.
    topic: str = ""
    event: str = ""

    def local_docs(self, objects: Sequence[SyncedModel]) -> dict[int, Doc]:
        """The document of each object, by primary key, in as few queries as possible."""
        raise NotImplementedError

    def push(self, client: UserbotClient, items: list[PushItem]) -> None:
        """Send the items' changes (``local`` against ``snapshot``) and deletions, and record
        on each item what Userbot confirmed (``confirm``) or why it failed (``fail``)."""
        raise NotImplementedError

    def pull(self, ctx: PullContext) -> None:
        """Read every object of the kind from Userbot and apply what changed here."""
        raise NotImplementedError

    def refresh(self, bot: Bot, events: list[dict[str, Any]], *, client: UserbotClient) -> dict[str, int]:
        """Apply the objects these events (checked against the contract) name, reading over
        ``client`` (the caller's: it connects at its first request, and the caller closes it or
        keeps it for the next batch); the counts returned hold ``unresolved``: how many only a
        full pull can settle."""
        raise NotImplementedError

    def set_local(self, obj: SyncedModel, changes: Doc) -> None:
        """Give ``obj`` these document values here (an operator took Userbot's side of a
        conflict), without queueing a push; a key's value None on a key that may be absent
        (a variable) removes it."""
        raise NotImplementedError


_KINDS: dict[str, SyncKind] = {}


def register(kind: SyncKind) -> SyncKind:
    _KINDS[kind.label] = kind
    return kind


def kind_for(label: str) -> SyncKind:
    return _KINDS[label]


def all_kinds() -> list[SyncKind]:
    return sorted(_KINDS.values(), key=lambda kind: kind.pull_order)


class ConditionMapper(Protocol):
    """Translates filters or conditions that name objects of another kind (a tag, say) between
    their names here and their Userbot ids on the wire, for one bot over one client."""

    def conditions_out(self, items: Sequence[dict[str, str]]) -> list[dict[str, str]]: ...

    def conditions_in(self, items: Sequence[dict[str, Any]], *, field: str) -> list[dict[str, str]]: ...


_MAPPERS: dict[str, Callable[[Bot, UserbotClient], ConditionMapper]] = {}


def register_mapper(name: str, factory: Callable[[Bot, UserbotClient], ConditionMapper]) -> None:
    """Offer, under ``name``, the mapper of the objects a domain owns to every kind whose
    documents name them, so that a kind never imports another domain (``Wire.mapper``)."""
    _MAPPERS[name] = factory


def mapper_for(name: str, bot: Bot, client: UserbotClient) -> ConditionMapper:
    return _MAPPERS[name](bot, client)


def event_kinds() -> list[SyncKind]:
    """The kinds that Userbot's events keep current between pulls."""
    return [kind for kind in all_kinds() if kind.topic]


# --- outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    message: str
    transient: bool
    fields: dict[str, Any] = field(default_factory=dict)


def failure_of(outcome: Response | TransportError) -> Failure | None:
    """None for a 200, else what failed and whether trying again later can help."""
    if isinstance(outcome, TransportError):
        return Failure(str(outcome), transient=True)
    if outcome.ok:
        return None
    error = outcome.error
    message = f"{outcome.status} {error.code}: {error.message}" if error else f"status {outcome.status}"
    return Failure(
        message, transient=outcome.status in TRANSIENT_STATUSES, fields=dict(error.fields) if error else {}
    )


def push_deletions(
    items: list[PushItem],
    *,
    find: Callable[[list[PushItem]], None],
    delete: Callable[[list[PushItem]], None],
) -> None:
    """The one rule of deleting on Userbot, for every kind; the kind supplies the requests.

    An object deleted here before Userbot confirmed its create may still exist there:
    ``find`` looks it up by its ``client_ref`` (a create with that ``client_ref`` returns the
    object the lost create made, or makes a bare one) and confirms its ``remote_id``. Then
    ``delete`` deletes every item that has a Userbot id and has not failed."""
    unconfirmed = [i for i in items if not i.remote_id and i.entry.client_ref]
    if unconfirmed:
        find(unconfirmed)
    doomed = [i for i in items if i.remote_id and not i.error]
    if doomed:
        delete(doomed)


def fail_all(items: Iterable[PushItem], failure: Failure) -> None:
    for item in items:
        item.fail(failure.message, transient=failure.transient)


def parse_time(value: str | None) -> datetime | None:
    """A wire time (``2026-11-24T09:30:00.000Z``) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
