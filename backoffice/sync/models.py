"""What every object mirrored from Userbot carries to be kept in sync.

``SyncedModel`` is abstract: each domain model (Segment, Interaction, AutomatedMessage)
inherits it and gets its bot, the ``client_ref`` that makes its creation idempotent, and its
sync record: its Userbot id and the bookkeeping an operator sees in the admin. A model whose
row is wide and often read (ChatUser) inherits ``SyncedObject`` instead and keeps its record
in a narrow table of its own; ``record_model``, ``records`` and ``with_records`` let the
engine reach either the same way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def new_client_ref() -> str:
    """A fresh ``client_ref``: 32 hex characters, within the contract's 1 to 64."""
    return uuid.uuid4().hex


def new_client_refs(count: int) -> Iterator[str]:
    """``count`` values of ``new_client_ref()`` (a version 4 UUID's 32 hex characters) from
    one draw of random bytes: a draw per chat user costs a system call each, and with it
    the interpreter's lock, which the threads of a bulk write then pass back and forth."""
    raw = bytearray(os.urandom(16 * count))
    for start in range(0, 16 * count, 16):
        raw[start + 6] = (raw[start + 6] & 0x0F) | 0x40  # version 4
        raw[start + 8] = (raw[start + 8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return (text[start : start + 32] for start in range(0, 32 * count, 32))


def synced_constraints(*, remote_id_unique: str, client_ref_unique: str) -> list[models.BaseConstraint]:
    """What every synced model holds per bot: one object per Userbot id and per client_ref."""
    return [
        models.UniqueConstraint(
            fields=["bot", "remote_id"],
            condition=models.Q(remote_id__isnull=False),
            name=remote_id_unique,
        ),
        models.UniqueConstraint(fields=["bot", "client_ref"], name=client_ref_unique),
    ]


def sync_state_index(name: str) -> models.Index:
    """The index that finds a bot's objects by sync state: what the relay and the admin filter on."""
    return models.Index(fields=["bot", "sync_state"], name=name)


class SyncState(models.TextChoices):
    SYNCED = "synced", "Synced"
    PENDING = "pending", "Pending"
    ERROR = "error", "Error"
    CONFLICT = "conflict", "Conflict"


class SyncRecord(models.Model):
    """The bookkeeping of one mirrored object: its Userbot id and how it last synced.

    On the object's own row (``SyncedModel``), or in a narrow table of its own beside it,
    one row per object (the chat users': their table is wide and heavily indexed, and
    the relay changes these fields for every push, where a narrow row costs a quarter).
    """

    remote_id = models.CharField("Userbot id", max_length=64, null=True, blank=True, editable=False)
    sync_state = models.CharField(
        max_length=10, choices=SyncState.choices, default=SyncState.PENDING, editable=False
    )
    synced_at = models.DateTimeField("last synced", null=True, blank=True, editable=False)
    remote_updated_at = models.DateTimeField(
        "Userbot updated_at",
        null=True,
        blank=True,
        editable=False,
        help_text="The object's updated_at on Userbot when it was last synced.",
    )
    sync_error = models.TextField("last sync error", blank=True, editable=False)
    # The wire form of the object as both sides last agreed on it: the base of three-way
    # merges, and what tells an echo of our own change from a new remote one.
    synced_snapshot = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


RECORD_FIELDS = ("remote_id", "sync_state", "synced_at", "remote_updated_at", "sync_error", "synced_snapshot")


class SyncedObject(models.Model):
    """A mirrored object: its bot and the ``client_ref`` that makes its creation idempotent.

    ``record_relation`` names the one-to-one relation to its ``SyncRecord`` when that lives
    in a table of its own; None (``SyncedModel``) when the record's fields are its own.
    """

    record_relation: ClassVar[str | None] = None

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    client_ref = models.CharField(max_length=64, default=new_client_ref, editable=False)

    class Meta:
        abstract = True

    def get_sync_state_display(self) -> str:
        state = record_of(self).sync_state
        return str(SyncState(state).label) if state in SyncState.values else str(state)


class SyncedModel(SyncedObject, SyncRecord):
    class Meta:
        abstract = True


def record_model(model: type[models.Model]) -> type[models.Model]:
    """The model whose rows hold ``model``'s sync records (itself, or its narrow table);
    its primary key is the object's."""
    relation = getattr(model, "record_relation", None)
    return model if relation is None else model._meta.get_field(relation).related_model


def records(model: type[models.Model], pks: Any) -> models.QuerySet:
    """The sync records of the objects of ``model`` with these primary keys."""
    return record_model(model)._default_manager.filter(pk__in=pks)


def record_lookup(model: type[models.Model], name: str) -> str:
    """The ORM lookup of a record field (``remote_id``, ``sync_state``...) from ``model``."""
    relation = getattr(model, "record_relation", None)
    return name if relation is None else f"{relation}__{name}"


def with_records(queryset: models.QuerySet, *fields: str) -> models.QuerySet:
    """``queryset`` reading each object's sync record in the same query; with ``fields``,
    only those of the object (``only``) and the whole record."""
    relation = getattr(queryset.model, "record_relation", None)
    if relation is not None:
        queryset = queryset.select_related(relation)
    if fields:
        queryset = queryset.only(*fields, *(record_lookup(queryset.model, f) for f in RECORD_FIELDS))
    return queryset


def record_of(obj: models.Model) -> Any:
    """Where ``obj``'s record fields are read and set: the object itself, or its record row
    (read once and kept with the object, or a new one for an object not saved yet)."""
    record = loaded_record(obj)
    if record is not None:
        return record
    relation = type(obj).record_relation  # type: ignore[attr-defined]
    if not obj._state.adding:
        return getattr(obj, relation)
    rel = obj._meta.get_field(relation)
    record = rel.related_model(**{rel.field.name: obj})  # type: ignore[union-attr]
    rel.set_cached_value(obj, record)  # type: ignore[union-attr]
    return record


def loaded_record(obj: models.Model) -> Any:
    """``obj``'s record row if it is in memory (new, or read with the object), else None."""
    relation = type(obj).record_relation  # type: ignore[attr-defined]
    if relation is None:
        return obj
    rel = obj._meta.get_field(relation)
    return rel.get_cached_value(obj, default=None)  # type: ignore[union-attr]


def kept_on_record(name: str) -> property:
    """A record field of an object whose record has a table of its own, read and set as if
    it were the object's."""

    def get(obj: models.Model) -> Any:
        return getattr(record_of(obj), name)

    get.short_description = SyncRecord._meta.get_field(name).verbose_name  # type: ignore[attr-defined]  # the admin's label

    def set_(obj: models.Model, value: Any) -> None:
        setattr(record_of(obj), name, value)

    return property(get, set_, doc=f"The object's {name}, kept on its sync record.")


class OutboxEntry(models.Model):
    """A mirrored object that has changed locally and must reach Userbot.

    Written in the same transaction as the change. An entry names the object, not the
    change: the relay diffs the object's current state against its ``synced_snapshot``
    when it sends, so any number of edits before that coalesce into one pending entry
    (a partial unique index keeps at most one per object), and order per object holds
    because the relay works on one entry per object at a time.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        DEAD = "dead", "Dead letter"

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(max_length=64, help_text="app_label.model of the changed object")
    object_id = models.BigIntegerField()
    # For a deleted object the local row is gone: what the relay needs travels here. An
    # object without a remote id may still have a create in flight, which its client_ref
    # finds on Userbot.
    deleted = models.BooleanField(default=False)
    remote_id = models.CharField(max_length=64, blank=True)
    client_ref = models.CharField(max_length=64, blank=True, db_default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=128, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "outbox entries"
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "object_id"],
                condition=models.Q(state="pending"),
                name="outbox_one_pending_per_object",
            ),
        ]
        indexes = [
            # The relay's claim walks a bot's pending entries oldest first and stops at
            # its batch: only pending rows are in it, so it never steps over the rest.
            models.Index(fields=["bot", "id"], name="outbox_pending", condition=models.Q(state="pending")),
            # A bot's entries in flight (what a claim must not overlap, stale leases) and
            # its dead letters: few rows, whatever the length of the queue.
            models.Index(
                fields=["bot", "state", "claimed_at"],
                name="outbox_held",
                condition=~models.Q(state="pending"),
            ),
            # An object's entries, in any state: the admin's and the services' lookups.
            models.Index(fields=["object_type", "object_id"], name="outbox_object"),
        ]

    def __str__(self) -> str:
        verb = "delete" if self.deleted else "push"
        return f"{verb} {self.object_type} #{self.object_id} ({self.state})"


class BotSync(models.Model):
    """How one bot is kept in sync, and how the last runs went: the bot's sync page."""

    class ConflictPolicy(models.TextChoices):
        MANUAL = "manual", "Manual: an operator chooses"
        REMOTE = "remote", "Userbot wins"
        LOCAL = "local", "The back office wins"

    class RemoteDeletePolicy(models.TextChoices):
        DELETE = "delete", "Delete here too"
        KEEP = "keep", "Keep here, flagged"

    bot = models.OneToOneField("userbot.Bot", on_delete=models.CASCADE, primary_key=True, related_name="sync")
    conflict_policy = models.CharField(
        max_length=10,
        choices=ConflictPolicy.choices,
        default=ConflictPolicy.MANUAL,
        help_text="When both sides changed the same field since the last sync.",
    )
    on_remote_delete = models.CharField(
        "when deleted on Userbot",
        max_length=10,
        choices=RemoteDeletePolicy.choices,
        default=RemoteDeletePolicy.DELETE,
    )
    # The operator's bounds of the pull's schedule; between them the bot's own pace decides
    # (``pull_interval``): a bot whose reconciliation takes long is pulled less often.
    pull_interval_s = models.PositiveIntegerField(
        "pull every (seconds)",
        default=60,
        help_text="How often everything is read back from Userbot, at the most: a bot whose "
        "reconciliation takes long is pulled less often.",
    )
    pull_interval_max_s = models.PositiveIntegerField(
        "reconciled at least every (seconds)",
        default=300,
        help_text="However long its reconciliation takes, the bot is pulled at least this often.",
    )
    pull_started_at = models.DateTimeField("last pull started", null=True, blank=True, editable=False)
    # The last pull that finished without an error: when, and how long it took.
    pull_finished_at = models.DateTimeField("last pull finished", null=True, blank=True, editable=False)
    pull_duration_s = models.FloatField("last pull took (seconds)", null=True, blank=True, editable=False)
    # A running pull holds this lease and renews it as it goes, so runs never overlap and a
    # pull whose worker died is taken over once its lease ends.
    pull_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    pull_error = models.TextField("last pull error", blank=True, editable=False)
    pull_report = models.JSONField("last pull", default=dict, blank=True, editable=False)
    # Where an interrupted first load resumes: the offset of the first page not applied.
    pull_checkpoint = models.JSONField(default=dict, blank=True, editable=False)
    push_finished_at = models.DateTimeField("last push", null=True, blank=True, editable=False)
    push_error = models.TextField("last push error", blank=True, editable=False)
    reconnects = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "bot sync"
        verbose_name_plural = "bot syncs"

    def __str__(self) -> str:
        return f"Sync of {self.bot}"

    def clean(self) -> None:
        if self.pull_interval_max_s < self.pull_interval_s:
            raise ValidationError(
                {"pull_interval_max_s": f'At least the {self.pull_interval_s} seconds of "pull every".'}
            )

    @property
    def pull_interval(self) -> timedelta:
        """How long from one scheduled pull's start to the next: ``SYNC_PULL_DUTY`` times the
        last complete reconciliation, so that pulling takes at most that share of the bot's
        time, within the operator's bounds (never more often than ``pull_interval_s``, never
        less often than ``pull_interval_max_s``)."""
        floor = self.pull_interval_s
        ceiling = max(floor, self.pull_interval_max_s)  # rows written past clean() included
        paced = settings.SYNC_PULL_DUTY * (self.pull_duration_s or 0.0)
        return timedelta(seconds=min(max(floor, paced), ceiling))

    @property
    def next_pull_due(self) -> datetime | None:
        """When the next scheduled pull is due (the last one's start plus ``pull_interval``);
        None for a bot never pulled, which is due at once."""
        if self.pull_started_at is None:
            return None
        return self.pull_started_at + self.pull_interval

    def pull_due(self, now: datetime) -> bool:
        """Whether a scheduled pull of the bot is due at ``now`` (a running one aside)."""
        due = self.next_pull_due
        return due is None or due <= now

    def pull_running(self, now: datetime) -> bool:
        """Whether a pull holds the bot's lease at ``now``."""
        return self.pull_lease_until is not None and self.pull_lease_until >= now


class SyncConflict(models.Model):
    """One field both sides changed differently since the last sync, with the three values.

    Kept after it is resolved, whoever or whatever resolved it, so no change is ever lost
    without a trace.
    """

    class Resolution(models.TextChoices):
        OPEN = "open", "Open"
        OURS = "ours", "Kept ours"
        THEIRS = "theirs", "Took theirs"
        AUTO_REMOTE = "auto_remote", "Userbot won (policy)"
        AUTO_LOCAL = "auto_local", "Back office won (policy)"
        GONE = "gone", "Object deleted"

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(max_length=64)
    object_id = models.BigIntegerField()
    object_repr = models.CharField("object", max_length=200)
    field = models.CharField(max_length=200)
    base_value = models.JSONField("last synced value", null=True)
    local_value = models.JSONField("our value", null=True)
    remote_value = models.JSONField("Userbot's value", null=True)
    detected_at = models.DateTimeField(auto_now_add=True)
    resolution = models.CharField(max_length=12, choices=Resolution.choices, default=Resolution.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "object_id", "field"],
                condition=models.Q(resolution="open"),
                name="syncconflict_one_open_per_field",
            )
        ]
        indexes = [models.Index(fields=["bot", "resolution"], name="syncconflict_bot_open")]

    def __str__(self) -> str:
        return f"{self.object_repr}: {self.field}"
