"""What every object mirrored from Userbot carries to be kept in sync.

``SyncedModel`` is abstract: each domain model (ChatUser, Segment, Interaction,
AutomatedMessage) inherits it and gets its bot, its Userbot id, the ``client_ref`` that
makes its creation idempotent, and the bookkeeping an operator sees in the admin.
"""

from __future__ import annotations

import uuid

from django.db import models


def new_client_ref() -> str:
    """A fresh ``client_ref``: 32 hex characters, within the contract's 1 to 64."""
    return uuid.uuid4().hex


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


class SyncedModel(models.Model):
    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    remote_id = models.CharField("Userbot id", max_length=64, null=True, blank=True, editable=False)
    client_ref = models.CharField(max_length=64, default=new_client_ref, editable=False)
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
        indexes = [models.Index(fields=["bot", "state", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        verb = "delete" if self.deleted else "push"
        return f"{verb} {self.object_type} #{self.object_id} ({self.state})"
