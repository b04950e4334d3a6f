"""Segments: a saved group of chat users, defined by filters that all (or any) must match,
synced with Userbot's ``segments`` (whose field and operator vocabulary they keep)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from backoffice.sync.models import SyncedModel, sync_state_index, synced_constraints
from backoffice.userbot import vocabulary
from chatusers.validators import parse_instant

__all__ = ["FilterField", "FilterOp", "Segment", "SegmentFilter"]


class Segment(SyncedModel):
    """A saved group of chat users, defined by filters that all (or any) must match."""

    class Match(models.TextChoices):
        ALL = "all", "All filters"
        ANY = "any", "Any filter"

    name = models.CharField(max_length=200)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = synced_constraints(
            remote_id_unique="segment_remote_id_unique", client_ref_unique="segment_client_ref_unique"
        )
        indexes = [sync_state_index("segment_bot_sync_state")]

    def __str__(self) -> str:
        return self.name


class FilterField(models.TextChoices):
    TAG = "tag", "Tag"
    VARIABLE = "variable", "Variable"
    CHANNEL = "channel", "Channel"
    LANGUAGE = "language", "Language"
    EMAIL = "email", "Email"
    CREATED_AT = "created_at", "Created at"
    LAST_SEEN_AT = "last_seen_at", "Last seen at"


class FilterOp(models.TextChoices):
    EQ = "eq", "equals"
    NEQ = "neq", "does not equal"
    CONTAINS = "contains", "contains"
    GT = "gt", "greater than / after"
    LT = "lt", "less than / before"
    EXISTS = "exists", "is set"
    NOT_EXISTS = "not_exists", "is not set"


# The labels are the admin's; the values must stay exactly the contract's.
vocabulary.require_wire_values("Segment.Match", Segment.Match.values, vocabulary.MATCHES)
vocabulary.require_wire_values("FilterField", FilterField.values, vocabulary.FILTER_FIELDS)
vocabulary.require_wire_values("FilterOp", FilterOp.values, vocabulary.OPS)


class SegmentFilter(models.Model):
    """One condition of a segment. A tag filter names its tag by name in ``value`` and
    holds it in ``tag``; the wire form carries the tag's Userbot id instead."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="filters")
    position = models.PositiveIntegerField(default=0)
    field = models.CharField(max_length=12, choices=FilterField.choices)
    op = models.CharField("operator", max_length=10, choices=FilterOp.choices)
    value = models.CharField(
        max_length=500, blank=True, help_text="Not needed with “is set” / “is not set”. A tag's name."
    )
    name = models.CharField("variable name", max_length=200, blank=True, help_text="Only for variables.")
    tag = models.ForeignKey("chatusers.Tag", on_delete=models.PROTECT, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "filter"

    def __str__(self) -> str:
        # In the operator's words ("Variable city is set", "Language equals “it”"), as the
        # segment's page captions each filter, not the wire's (``language eq it``).
        field = FilterField(self.field).label if self.field in FilterField.values else self.field
        subject = f"Variable {self.name}" if self.field == FilterField.VARIABLE else field
        op = FilterOp(self.op).label if self.op in FilterOp.values else self.op
        value = f" “{self.value}”" if self.value and self.op not in vocabulary.VALUELESS_OPS else ""
        return f"{subject} {op}{value}"

    def clean(self) -> None:
        field, op, value = self.field, self.op, self.value
        if field not in vocabulary.FIELD_OPS or op not in FilterOp.values:
            return  # the choices already reported it
        if op not in vocabulary.FIELD_OPS[field]:
            raise ValidationError({"op": f"The operator {op} is not valid for the field {field}."})
        if op not in vocabulary.VALUELESS_OPS and not value:
            raise ValidationError({"value": f"A value is required with the operator {op}."})
        if field == FilterField.VARIABLE and not self.name:
            raise ValidationError({"name": "A variable filter needs the variable's name."})
        if field != FilterField.VARIABLE and self.name:
            raise ValidationError({"name": "Only a variable filter takes a variable name."})
        instant = field in vocabulary.INSTANT_FIELDS and op in vocabulary.ORDERED_OPS
        if instant and parse_instant(value) is None:
            raise ValidationError({"value": "Enter a date (YYYY-MM-DD) or an ISO 8601 time."})
        self.tag = None
        if field == FilterField.TAG and op in ("eq", "neq"):
            tags = self._meta.get_field("tag").related_model._default_manager
            self.tag = tags.filter(bot_id=self.segment.bot_id, name__iexact=value).first()
            if self.tag is None:
                raise ValidationError({"value": f"This bot has no tag named “{value}”."})
            self.value = self.tag.name

    def as_dict(self) -> dict[str, str]:
        """The filter as services take it (a tag by its name)."""
        return {"field": self.field, "op": self.op, "value": self.value, "name": self.name}
