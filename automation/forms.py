"""The forms that edit an automated message on one admin page: its answers carry their buttons.

Django's admin does not nest inlines, so each answer form holds the formset of its own
buttons, prefixed by the answer's prefix (``answers-0-buttons``). The admin's inline
JavaScript renumbers every name under a new answer's prefix, nested ones included, so a
new answer added in the browser brings its own blank button rows.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet, inlineformset_factory

from automation.models import Answer, AnswerType, Button, check_buttons
from automation.selectors import AnswerData, ButtonData, ConditionData

BLANK_BUTTON_ROWS = 3


class ButtonForm(forms.ModelForm):
    class Meta:
        model = Button
        fields = ["label", "value"]


ButtonFormSet = inlineformset_factory(
    Answer, Button, form=ButtonForm, fields=["label", "value"], extra=BLANK_BUTTON_ROWS, can_delete=True
)


def kept_forms(formset: BaseInlineFormSet) -> list[forms.BaseForm]:
    """The valid forms of a formset that hold something and are not marked for deletion, in order."""
    return [form for form in formset.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]


class AnswerForm(forms.ModelForm):
    """An answer with its buttons: the answer is valid only when its buttons are."""

    class Meta:
        model = Answer
        fields = ["type", "text", "url"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buttons = ButtonFormSet(
            data=self.data if self.is_bound else None,
            instance=self.instance,
            prefix=self.add_prefix("buttons"),
        )

    def has_changed(self) -> bool:
        return super().has_changed() or self.buttons.has_changed()

    def is_valid(self) -> bool:
        return super().is_valid() and self.buttons.is_valid()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.buttons.is_valid() and cleaned.get("type"):
            try:
                check_buttons(answer_type=cleaned["type"], button_count=len(kept_forms(self.buttons)))
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned

    def answer_data(self) -> AnswerData:
        """The answer as the services take it (the wire's shape)."""
        data: AnswerData = {
            "type": self.cleaned_data["type"],
            "text": self.cleaned_data["text"],
            "url": self.cleaned_data["url"],
        }
        buttons: list[ButtonData] = [
            {"label": form.cleaned_data["label"], "value": form.cleaned_data["value"]}
            for form in kept_forms(self.buttons)
        ]
        if buttons or data["type"] == AnswerType.BUTTONS:
            data["buttons"] = buttons
        return data


def condition_data(form: forms.BaseForm) -> ConditionData:
    """A condition form's values as the services take them."""
    return {
        "field": form.cleaned_data["field"],
        "op": form.cleaned_data["op"],
        "value": form.cleaned_data["value"],
        "name": form.cleaned_data["name"],
    }
