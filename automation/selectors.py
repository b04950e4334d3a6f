"""Reads of automated messages, including their conditions and answers in the wire's shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NotRequired, TypedDict

from django.db.models import Prefetch, QuerySet

from automation.models import Answer, AnswerType, AutomatedMessage, Button, Condition, ConditionField
from backoffice.userbot.models import Bot


class ConditionData(TypedDict):
    field: str
    op: str
    value: str
    name: NotRequired[str]


class ButtonData(TypedDict):
    label: str
    value: str


class AnswerData(TypedDict):
    type: str
    text: NotRequired[str]
    url: NotRequired[str]
    buttons: NotRequired[list[ButtonData]]


def automated_message_list(*, bot: Bot) -> QuerySet[AutomatedMessage]:
    """A bot's automated messages with their conditions, answers and buttons in one go."""
    return AutomatedMessage.objects.filter(bot=bot).prefetch_related(
        "conditions", Prefetch("answers", queryset=Answer.objects.prefetch_related("buttons"))
    )


def condition_data(condition: Condition) -> ConditionData:
    """One condition as the wire carries it: ``name`` only on a variable condition."""
    item: ConditionData = {"field": condition.field, "op": condition.op, "value": condition.value}
    if condition.field == ConditionField.VARIABLE:
        item["name"] = condition.name
    return item


def answer_data(answer: Answer, buttons: Iterable[Button]) -> AnswerData:
    """One answer as the wire carries it, with only the fields its type uses."""
    if answer.type == AnswerType.IMAGE:
        return {"type": answer.type, "url": answer.url}
    if answer.type == AnswerType.BUTTONS:
        return {
            "type": answer.type,
            "text": answer.text,
            "buttons": [{"label": button.label, "value": button.value} for button in buttons],
        }
    return {"type": answer.type, "text": answer.text}


def automated_message_conditions(*, message: AutomatedMessage) -> list[ConditionData]:
    """The message's conditions in order, as the wire carries them."""
    return [condition_data(condition) for condition in message.conditions.all()]


def automated_message_answers(*, message: AutomatedMessage) -> list[AnswerData]:
    """The message's answers (with their buttons) in order, as the wire carries them."""
    return [answer_data(answer, answer.buttons.all()) for answer in message.answers.all()]
