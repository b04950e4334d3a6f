"""Writes to automated messages: a message with its conditions and answers changes as one.

Conditions and answers (with their buttons) are given whole, as lists in the wire's shape,
and replace what the message had; all of it is validated before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from automation.models import Answer, AutomatedMessage, Button, Condition, check_buttons
from automation.selectors import (
    AnswerData,
    ConditionData,
    answer_data,
    automated_message_answers,
    automated_message_conditions,
    condition_data,
)
from backoffice import audit
from backoffice.sync.outbox import mark_changed
from backoffice.sync.services import object_delete
from backoffice.userbot.models import Bot

EDITABLE_FIELDS = ("name", "enabled", "trigger", "delay_seconds")


@dataclass
class _Parts:
    """A message's conditions and answers built and validated, not yet saved."""

    conditions: list[Condition]
    answers: list[tuple[Answer, list[Button]]] = field(default_factory=list)

    def condition_data(self) -> list[ConditionData]:
        return [condition_data(condition) for condition in self.conditions]

    def answer_data(self) -> list[AnswerData]:
        return [answer_data(answer, buttons) for answer, buttons in self.answers]


def _prefixed(prefix: str, error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {f"{prefix}.{name}": messages for name, messages in error.message_dict.items()}
    return {prefix: error.messages}


def _build_parts(
    *, conditions: Sequence[ConditionData], answers: Sequence[AnswerData]
) -> tuple[_Parts, dict[str, list[str]]]:
    """Build every condition, answer and button, and collect every error keyed by where it is."""
    errors: dict[str, list[str]] = {}
    parts = _Parts(conditions=[])
    for position, item in enumerate(conditions):
        condition = Condition(
            position=position,
            field=item["field"],
            op=item["op"],
            value=item.get("value", ""),
            name=item.get("name", ""),
        )
        try:
            condition.full_clean(exclude=["message"])
        except ValidationError as error:
            errors.update(_prefixed(f"conditions[{position}]", error))
        parts.conditions.append(condition)
    for position, item in enumerate(answers):
        answer = Answer(
            position=position, type=item["type"], text=item.get("text", ""), url=item.get("url", "")
        )
        where = f"answers[{position}]"
        try:
            answer.full_clean(exclude=["message"])
        except ValidationError as error:
            errors.update(_prefixed(where, error))
        buttons = []
        for index, button_item in enumerate(item.get("buttons", [])):
            button = Button(position=index, label=button_item["label"], value=button_item.get("value", ""))
            try:
                button.full_clean(exclude=["answer"])
            except ValidationError as error:
                errors.update(_prefixed(f"{where}.buttons[{index}]", error))
            buttons.append(button)
        try:
            check_buttons(answer_type=answer.type, button_count=len(buttons))
        except ValidationError as error:
            errors.setdefault(f"{where}.buttons", []).extend(error.messages)
        parts.answers.append((answer, buttons))
    return parts, errors


def _save_parts(message: AutomatedMessage, parts: _Parts, *, replace: bool) -> None:
    if replace:
        message.conditions.all().delete()
        message.answers.all().delete()
    for condition in parts.conditions:
        condition.message = message
    Condition.objects.bulk_create(parts.conditions)
    for answer, buttons in parts.answers:
        answer.message = message
        answer.save()
        for button in buttons:
            button.answer = answer
        Button.objects.bulk_create(buttons)


@transaction.atomic
def automated_message_create(
    *,
    bot: Bot,
    name: str,
    trigger: str,
    enabled: bool = True,
    delay_seconds: int = 0,
    conditions: Sequence[ConditionData] = (),
    answers: Sequence[AnswerData] = (),
    actor: AbstractBaseUser,
) -> AutomatedMessage:
    """Create an automated message with its conditions and answers, and queue it for Userbot."""
    message = AutomatedMessage(
        bot=bot, name=name, trigger=trigger, enabled=enabled, delay_seconds=delay_seconds
    )
    errors: dict[str, list[str]] = {}
    try:
        message.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    parts, part_errors = _build_parts(conditions=conditions, answers=answers)
    errors.update(part_errors)
    if errors:
        raise ValidationError(errors)
    message.save()
    _save_parts(message, parts, replace=False)
    mark_changed([message])
    audit.record(actor=actor, obj=message, action="add", message="Added.")
    return message


@transaction.atomic
def automated_message_update(
    *,
    message: AutomatedMessage,
    actor: AbstractBaseUser,
    conditions: Sequence[ConditionData] | None = None,
    answers: Sequence[AnswerData] | None = None,
    **changes: Any,
) -> AutomatedMessage:
    """Set the given fields, and replace the conditions or answers when given.

    Only what differs is written; a call that changes nothing writes nothing, queues
    nothing and records nothing.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"automated_message_update() cannot change {', '.join(sorted(unknown))}")
    changed = [name for name, value in changes.items() if getattr(message, name) != value]
    for name in changed:
        setattr(message, name, changes[name])
    errors: dict[str, list[str]] = {}
    try:
        message.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    current_conditions = automated_message_conditions(message=message)
    current_answers = automated_message_answers(message=message)
    parts, part_errors = _build_parts(
        conditions=current_conditions if conditions is None else conditions,
        answers=current_answers if answers is None else answers,
    )
    errors.update(part_errors)
    if errors:
        raise ValidationError(errors)
    labels = [str(AutomatedMessage._meta.get_field(name).verbose_name) for name in changed]
    parts_changed = False
    if parts.condition_data() != current_conditions:
        labels.append("conditions")
        parts_changed = True
    if parts.answer_data() != current_answers:
        labels.append("answers")
        parts_changed = True
    if not labels:
        return message
    if changed:
        message.save(update_fields=changed)
    if parts_changed:
        _save_parts(message, parts, replace=True)
    mark_changed([message])
    audit.record(actor=actor, obj=message, action="change", message=f"Changed {', '.join(labels)}.")
    return message


def automated_message_delete(*, message: AutomatedMessage, actor: AbstractBaseUser) -> None:
    """Delete an automated message (its conditions and answers with it) and queue it on Userbot."""
    object_delete(obj=message, actor=actor)
