"""Automated messages mirrored from Userbot: what the bot says on its own, when, and to whom."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from backoffice.sync.models import SyncedModel, sync_state_index, synced_constraints
from backoffice.userbot import vocabulary

NAME_REQUIRED = "A variable condition needs the variable's name."
NAME_ONLY_WITH_VARIABLE = "Only a variable condition has a name."
VALUE_REQUIRED = "This operator needs a value."
TEXT_REQUIRED = "A {type} answer needs a text."
URL_REQUIRED = "An image answer needs a URL."
URL_ONLY_WITH_IMAGE = "Only an image answer has a URL."
TEXT_NOT_WITH_IMAGE = "An image answer has no text."
BUTTONS_REQUIRED = "A buttons answer needs at least one button."
BUTTONS_ONLY_WITH_BUTTONS = "Only a buttons answer has buttons."


class Trigger(models.TextChoices):
    PAGE_VISIT = "page_visit", "Page visit"
    TIME_ON_PAGE = "time_on_page", "Time on page"
    RETURNING_USER = "returning_user", "Returning user"
    EXIT_INTENT = "exit_intent", "Exit intent"


class ConditionField(models.TextChoices):
    URL = "url", "URL"
    LANGUAGE = "language", "Language"
    CHANNEL = "channel", "Channel"
    TAG = "tag", "Tag"
    VARIABLE = "variable", "Variable"


class ConditionOp(models.TextChoices):
    """The segment filter operators, which automated message conditions share."""

    EQ = "eq", "equals"
    NEQ = "neq", "differs from"
    CONTAINS = "contains", "contains"
    GT = "gt", "greater than"
    LT = "lt", "less than"
    EXISTS = "exists", "is set"
    NOT_EXISTS = "not_exists", "is not set"


class AnswerType(models.TextChoices):
    TEXT = "text", "Text"
    BUTTONS = "buttons", "Buttons"
    IMAGE = "image", "Image"


# The labels are the admin's; the values must stay exactly the contract's.
vocabulary.require_wire_values("Trigger", Trigger.values, vocabulary.TRIGGERS)
vocabulary.require_wire_values("ConditionField", ConditionField.values, vocabulary.CONDITION_FIELDS)
vocabulary.require_wire_values("ConditionOp", ConditionOp.values, vocabulary.CONDITION_OPS)
vocabulary.require_wire_values("AnswerType", AnswerType.values, vocabulary.ANSWER_TYPES)


def validate_not_blank(value: str) -> None:
    """Userbot refuses text made only of spaces where text is required."""
    if not value.strip():
        raise ValidationError("This field cannot be only spaces.", code="only_spaces")


class AutomatedMessage(SyncedModel):
    """A message the bot sends by itself when its trigger fires and all its conditions hold."""

    name = models.CharField(max_length=200, validators=[validate_not_blank])
    enabled = models.BooleanField(default=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    delay_seconds = models.PositiveIntegerField(default=0, help_text="Seconds to wait after the trigger.")

    class Meta:
        ordering = ["name", "pk"]
        constraints = synced_constraints(
            remote_id_unique="automatedmessage_unique_remote_id",
            client_ref_unique="automatedmessage_unique_client_ref",
        )
        indexes = [sync_state_index("automatedmessage_sync_state")]

    def __str__(self) -> str:
        return self.name


class Condition(models.Model):
    """One condition of an automated message, with a segment filter's field, op and value."""

    message = models.ForeignKey(AutomatedMessage, on_delete=models.CASCADE, related_name="conditions")
    position = models.PositiveSmallIntegerField(default=0)
    field = models.CharField(max_length=10, choices=ConditionField.choices)
    op = models.CharField(max_length=10, choices=ConditionOp.choices)
    value = models.CharField(max_length=500, blank=True)
    name = models.CharField(max_length=200, blank=True, help_text="The variable's name, for a variable only.")

    class Meta:
        ordering = ["message", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="condition_unique_position"),
        ]

    def __str__(self) -> str:
        subject = f"variable {self.name}" if self.field == ConditionField.VARIABLE else self.field
        return f"{subject} {self.op} {self.value}".strip()

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.op and self.op not in vocabulary.VALUELESS_OPS and not self.value:
            errors["value"] = VALUE_REQUIRED
        if self.field == ConditionField.VARIABLE and not self.name.strip():
            errors["name"] = NAME_REQUIRED
        elif self.field and self.field != ConditionField.VARIABLE and self.name:
            errors["name"] = NAME_ONLY_WITH_VARIABLE
        if errors:
            raise ValidationError(errors)


class Answer(models.Model):
    """One thing the bot says in an automated message: a text, a text with buttons, or an image."""

    message = models.ForeignKey(AutomatedMessage, on_delete=models.CASCADE, related_name="answers")
    position = models.PositiveSmallIntegerField(default=0)
    type = models.CharField(max_length=10, choices=AnswerType.choices, default=AnswerType.TEXT)
    text = models.TextField(blank=True)
    url = models.CharField("URL", max_length=2000, blank=True)

    class Meta:
        ordering = ["message", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="answer_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.url if self.type == AnswerType.IMAGE else self.text[:60]}"

    def clean(self) -> None:
        """The fields each type needs; whether buttons are there is checked with the buttons."""
        errors: dict[str, str] = {}
        if self.type == AnswerType.IMAGE:
            if not self.url.strip():
                errors["url"] = URL_REQUIRED
            if self.text:
                errors["text"] = TEXT_NOT_WITH_IMAGE
        elif self.type:
            if not self.text.strip():
                errors["text"] = TEXT_REQUIRED.format(type=self.type)
            if self.url:
                errors["url"] = URL_ONLY_WITH_IMAGE
        if errors:
            raise ValidationError(errors)


def check_buttons(*, answer_type: str, button_count: int) -> None:
    """A buttons answer has at least one button, and no other type has any."""
    if answer_type == AnswerType.BUTTONS and button_count == 0:
        raise ValidationError(BUTTONS_REQUIRED, code="buttons_required")
    if answer_type != AnswerType.BUTTONS and button_count:
        raise ValidationError(BUTTONS_ONLY_WITH_BUTTONS, code="buttons_not_allowed")


class Button(models.Model):
    """A button of a buttons answer: the label shown, and the value sent when it is pressed."""

    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="buttons")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(max_length=200, validators=[validate_not_blank])
    value = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["answer", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["answer", "position"], name="button_unique_position"),
        ]

    def __str__(self) -> str:
        return self.label
