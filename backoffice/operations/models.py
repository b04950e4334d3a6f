"""One long operation an operator started, with how far it has come."""

from __future__ import annotations

import pickle
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import QuerySet

from backoffice.userbot.models import Bot


class Operation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=60, help_text="The registered runner that does the work")
    title = models.CharField(max_length=300)
    noun = models.CharField(max_length=40, default="rows", help_text="What the counts count")
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    params = models.JSONField(default=dict, blank=True)
    # The rows it works on, as the list chose them: Django's QuerySet.query, pickled, which
    # is how the docs say to keep a queryset for later. Written only here, by this code.
    query = models.BinaryField(null=True, blank=True)
    scope = models.TextField(blank=True, help_text="Which rows, in words")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When it last told its progress")
    result = models.TextField(blank=True, help_text="What it did, in words")
    error = models.TextField(blank=True)
    file = models.CharField(max_length=300, blank=True, help_text="The file it wrote, in the media storage")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"], name="operation_status_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    def starter(self) -> Any:
        """Who started it, as whom its work is done and recorded; raises LookupError once
        that account is gone, since nobody else may act in their name."""
        if self.created_by is None:
            raise LookupError("the operator who started this operation no longer exists")
        return self.created_by

    def keep_queryset(self, queryset: QuerySet[Any]) -> None:
        self.params = {**self.params, "model": queryset.model._meta.label_lower}
        self.query = pickle.dumps(queryset.query)

    def queryset(self) -> QuerySet[Any]:
        """The rows as the list chose them when the operation started."""
        model = apps.get_model(self.params["model"])
        queryset = model._default_manager.all()
        queryset.query = pickle.loads(bytes(self.query))  # noqa: S301 (only this code writes it)
        return queryset
