"""Leads as mirrored from Userbot's intel: companies that visited the site, with their tags.

A lead's tags are rows of ``LeadTag`` rather than a JSON list: adding or removing a tag on
a hundred thousand leads is one INSERT ... SELECT or one DELETE, and the tag filter is an
index lookup on ``(key, lead)``, on PostgreSQL and SQLite alike (SQLite has no JSON
containment lookup, and a JSON list would need reading and writing back every row).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Upper

from backoffice.sync.models import SyncedModel, sync_state_index, synced_constraints


class Lead(SyncedModel):
    """A company that visited the site; Userbot's to list, ours to tag."""

    company = models.TextField(blank=True)
    domain = models.CharField(max_length=255, blank=True)
    country = models.CharField(max_length=100, blank=True)
    visits = models.PositiveIntegerField(default=0)
    last_visit_at = models.DateTimeField("last visit", null=True, blank=True)
    gone_at = models.DateTimeField(
        "gone from Userbot", null=True, blank=True, help_text="When Userbot stopped listing the lead."
    )

    class Meta:
        ordering = ["-last_visit_at", "-pk"]
        constraints = synced_constraints(
            remote_id_unique="lead_unique_remote_id", client_ref_unique="lead_unique_client_ref"
        )
        indexes = [
            sync_state_index("lead_sync_state"),
            models.Index(fields=["-last_visit_at", "-id"], name="lead_last_visit"),
            models.Index(fields=["-visits", "-id"], name="lead_visits"),
            models.Index(fields=["country"], name="lead_country"),
            # The leads of a domain, in any case (a chat user's email domain): ``domain__iexact``.
            models.Index(Upper("domain"), name="lead_domain"),
        ]

    def __str__(self) -> str:
        return self.company[:100] or self.domain or f"lead {self.remote_id or self.pk}"


class LeadTag(models.Model):
    """One tag of a lead, as written (``tag``) and as compared (``key``, see ``leads.tags``)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tag_rows")
    tag = models.TextField()
    key = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "key"], name="leadtag_unique_key")]
        indexes = [models.Index(fields=["key", "lead"], name="leadtag_key")]

    def __str__(self) -> str:
        return self.tag[:100]


class LeadDetails(models.Model):
    """A lead's visits and key people as Userbot last gave them, and when they were read:
    the lead page shows this copy when Userbot cannot be reached. Kept as they came, with
    the problems found in them (``warnings``) shown beside."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="details")
    visits = models.JSONField(default=list)
    people = models.JSONField(default=list)
    warnings = models.JSONField(default=list)
    read_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "lead details"

    def __str__(self) -> str:
        return f"Details of {self.lead}"
