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
