"""The bot's knowledge base as mirrored from Userbot's qeafilter: one question and its answer."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from backoffice.sync.models import SyncedModel, sync_state_index, synced_constraints
from backoffice.userbot.iso639 import LANGUAGES

LANGUAGE_CHOICES = [(code, code) for code in sorted(LANGUAGES)]


def validate_label(value: str) -> None:
    """A label travels inside a ``<label>`` token on the wire, so it cannot hold ``<`` or ``>``."""
    if "<" in value or ">" in value:
        raise ValidationError("A label cannot contain < or >.", code="label_brackets")


def validate_not_blank(value: str) -> None:
    """Userbot refuses text made only of spaces where text is required."""
    if not value.strip():
        raise ValidationError("This field cannot be only spaces.", code="only_spaces")


class Interaction(SyncedModel):
    """One entry of the knowledge base the bot answers from (a qeafilter interaction)."""

    label = models.CharField(max_length=200, validators=[validate_label, validate_not_blank])
    question = models.TextField(validators=[validate_not_blank])
    answer = models.TextField(validators=[validate_not_blank])
    language = models.CharField(
        max_length=2, choices=LANGUAGE_CHOICES, blank=True, help_text="ISO 639-1 code, or empty for any."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["label", "pk"]
        constraints = synced_constraints(
            remote_id_unique="interaction_unique_remote_id", client_ref_unique="interaction_unique_client_ref"
        )
        indexes = [
            sync_state_index("interaction_sync_state"),
            models.Index(fields=["bot", "label"], name="interaction_label"),
            models.Index(fields=["bot", "enabled"], name="interaction_enabled"),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.question[:60]}"
