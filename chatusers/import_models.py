"""What a CSV import of chat users keeps: saved column mappings, each import's job with its
choices, progress and counts, and the before-image of every chat user it touched (for undo)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["ImportChange", "ImportJob", "ImportMapping"]


class ImportMapping(models.Model):
    """A saved, reusable mapping of file headers to targets (a field, ``var:<name>`` or ``skip``)."""

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    columns = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "import mapping"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["bot", "name"], name="importmapping_unique")]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    """One CSV import: the file, the operator's choices, and what the run did."""

    class Mode(models.TextChoices):
        CREATE = "create", "Create only"
        UPDATE = "update", "Update only"
        UPSERT = "upsert", "Create or update"

    class MatchKey(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        REMOTE_ID = "remote_id", "Userbot id"

    class Overwrite(models.TextChoices):
        OVERWRITE = "overwrite", "Overwrite"
        FILL_BLANKS = "fill_blanks", "Fill blanks only"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        UNDONE = "undone", "Undone"

    bot = models.ForeignKey("userbot.Bot", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file = models.FileField(upload_to="imports/", max_length=300)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=20, blank=True)
    encoding_note = models.CharField(max_length=200, blank=True)
    delimiter = models.CharField(max_length=1, default=",")
    header = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    mode = models.CharField(max_length=6, choices=Mode.choices, default=Mode.UPSERT)
    match_key = models.CharField(max_length=9, choices=MatchKey.choices, default=MatchKey.EMAIL)
    overwrite = models.CharField(max_length=11, choices=Overwrite.choices, default=Overwrite.OVERWRITE)
    extra_tags = models.JSONField(default=list, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.DRAFT)
    cancel_requested = models.BooleanField(default=False)
    rows_total = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    created = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    unchanged = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    rejected_file = models.FileField(upload_to="imports/rejected/", max_length=300, null=True, blank=True)
    # The tags this import created (ids): what its undo deletes again once no chat user holds
    # them and Userbot does not have them.
    created_tags = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "chat user import"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display().lower()})"


class ImportChange(models.Model):
    """One chat user an import created or changed, with its fields, tags and variables before."""

    # Indexed through the unique (job, chatuser_id) that leads with it: an index of its own
    # would be one more written for every chat user a million-row import touches.
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="changes", db_index=False)
    chatuser_id = models.BigIntegerField()
    created = models.BooleanField()
    before = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = "import change"
        constraints = [models.UniqueConstraint(fields=["job", "chatuser_id"], name="importchange_unique")]

    def __str__(self) -> str:
        return f"{'created' if self.created else 'changed'} chat user #{self.chatuser_id}"
