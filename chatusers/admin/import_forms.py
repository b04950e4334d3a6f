"""The forms of a CSV import: the upload, and the mapping of the file's columns with the
choices of the run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from backoffice.userbot.models import Bot
from chatusers.import_models import ImportJob
from chatusers.imports.mapping import VARIABLE_NAME_MAX, VARIABLE_PREFIX
from chatusers.imports.reading import size_text

VARIABLE = "var"
TARGET_CHOICES = [
    ("name", "name"),
    ("surname", "surname"),
    ("email", "email"),
    ("phone", "phone"),
    ("channel", "channel"),
    ("language", "language"),
    ("tags", "tags"),
    ("client_ref", "client ref"),
    ("remote_id", "Userbot id"),
    (VARIABLE, "variable…"),
    ("skip", "skip"),
]


def max_upload_bytes() -> int:
    return int(settings.CHATUSER_IMPORT_MAX_BYTES)


class UploadForm(forms.Form):
    bot = forms.ModelChoiceField(queryset=Bot.objects.order_by("name"), empty_label=None)
    # An empty file is the services' to refuse, with the same words as every unreadable file.
    file = forms.FileField(label="CSV file", allow_empty_file=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"At most {size_text(max_upload_bytes())} and {settings.CHATUSER_IMPORT_MAX_COLUMNS} columns. "
            "UTF-8 (with or without BOM), UTF-16 or Latin-1; comma, semicolon or tab between the "
            "columns; a header row first."
        )


def field_choices(field_name: str) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in ImportJob._meta.get_field(field_name).choices]


class MappingForm(forms.Form):
    """One target per column of the file, plus how the rows meet the chat users already there."""

    mode = forms.ChoiceField(choices=())
    match_key = forms.ChoiceField(
        choices=(), label="Match key", help_text="How a row finds the chat user it updates."
    )
    overwrite = forms.ChoiceField(
        choices=(), label="Existing values", help_text="What a row does to a field that already has a value."
    )
    extra_tags = forms.CharField(
        required=False,
        label="Tags for every row",
        help_text="Tag names separated by commas, put on every imported chat user.",
    )
    save_as = forms.CharField(
        required=False,
        max_length=100,
        label="Save this mapping as",
        help_text="A name to reuse these column choices for the next file of this bot.",
    )

    def __init__(self, *args: Any, header: list[str], catalogue: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header = header
        # The bot's variable catalogue, offered as targets of their own (``var:<name>``).
        self.catalogue_choices = [(f"{VARIABLE_PREFIX}{name}", name) for name in catalogue]
        choices = [*TARGET_CHOICES, *self.catalogue_choices]
        self.fields["mode"].choices = field_choices("mode")
        self.fields["match_key"].choices = field_choices("match_key")
        self.fields["overwrite"].choices = field_choices("overwrite")
        for index, column in enumerate(header):
            self.fields[f"target_{index}"] = forms.ChoiceField(choices=choices, label=column)
            self.fields[f"variable_{index}"] = forms.CharField(
                required=False, max_length=VARIABLE_NAME_MAX, label=f"Variable name for “{column}”"
            )

    @staticmethod
    def initial_for(job: ImportJob, mapping: dict[str, str], catalogue: Sequence[str] = ()) -> dict[str, Any]:
        """The form's initial values from a job and a mapping ({header: target}): a variable
        of the catalogue is chosen as such, any other by name; a column that would be
        skipped and is named like a catalogue variable goes to it."""
        initial: dict[str, Any] = {
            "mode": job.mode,
            "match_key": job.match_key,
            "overwrite": job.overwrite,
            "extra_tags": ", ".join(job.extra_tags or []),
        }
        by_name = {_normalised(name): name for name in catalogue}
        for index, column in enumerate(job.header):
            target = mapping.get(column, "skip")
            if target == "skip" and _normalised(column) in by_name:
                target = f"{VARIABLE_PREFIX}{by_name[_normalised(column)]}"
            if target.startswith(VARIABLE_PREFIX) and target[len(VARIABLE_PREFIX) :] in catalogue:
                initial[f"target_{index}"] = target
            elif target.startswith("var:"):
                initial[f"target_{index}"], initial[f"variable_{index}"] = VARIABLE, target[4:]
            else:
                initial[f"target_{index}"] = target
        return initial

    def columns(self) -> list[ColumnRow]:
        """Per column of the file: its header, its target and variable-name fields as HTML.

        Rendered here rather than by the widgets' templates, which cost milliseconds a field:
        the page of a file with hundreds of columns took seconds."""
        options: dict[str, SafeString] = {}
        rows = []
        for index, column in enumerate(self.header):
            target, variable = self[f"target_{index}"], self[f"variable_{index}"]
            selected = str(target.value() or "")
            if selected not in options:
                options[selected] = format_html(
                    "{}{}",
                    _options(TARGET_CHOICES, selected),
                    format_html(
                        '<optgroup label="The bot\'s variables">{}</optgroup>',
                        _options(self.catalogue_choices, selected),
                    )
                    if self.catalogue_choices
                    else "",
                )
            invalid = mark_safe(' aria-invalid="true"') if target.errors else ""
            value = variable.value()
            rows.append(
                ColumnRow(
                    name=column,
                    target_id=target.auto_id,
                    target=format_html(
                        '<select name="{}" id="{}" required{}>{}</select>',
                        target.html_name,
                        target.auto_id,
                        invalid,
                        options[selected],
                    ),
                    target_errors=_error_list(target.errors),
                    variable=format_html(
                        '<input type="text" name="{}" maxlength="{}" id="{}"{}{}>',
                        variable.html_name,
                        VARIABLE_NAME_MAX,
                        variable.auto_id,
                        format_html(' value="{}"', value) if value else "",
                        mark_safe(' aria-invalid="true"') if variable.errors else "",
                    ),
                    variable_errors=_error_list(variable.errors),
                )
            )
        return rows

    def run_fields(self) -> list[forms.BoundField]:
        """The choices about the run itself, after the columns."""
        return [self[name] for name in ("mode", "match_key", "overwrite", "extra_tags", "save_as")]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        mapping: dict[str, str] = {}
        first_column_of: dict[str, str] = {}
        for index, column in enumerate(self.header):
            target = cleaned.get(f"target_{index}")
            variable = (cleaned.get(f"variable_{index}") or "").strip()
            if target is None:
                continue
            if target.startswith(VARIABLE_PREFIX):
                if variable:
                    self.add_error(f"variable_{index}", "A variable name needs the target “variable…”.")
                    continue
            elif target == VARIABLE:
                if not variable:
                    self.add_error(f"variable_{index}", "Name the variable this column fills.")
                    continue
                target = f"var:{variable}"
            elif variable:
                self.add_error(f"variable_{index}", "A variable name needs the target “variable…”.")
                continue
            if target != "skip":
                if target in first_column_of:
                    self.add_error(
                        f"target_{index}",
                        f"Column “{first_column_of[target]}” already maps to {_target_label(target)}.",
                    )
                    continue
                first_column_of[target] = column
            mapping[column] = target
        cleaned["mapping"] = mapping
        names = (cleaned.get("extra_tags") or "").split(",")
        cleaned["extra_tag_names"] = [name.strip() for name in names if name.strip()]
        return cleaned

    def add_service_errors(self, error: ValidationError) -> None:
        """Show the services' errors beside the fields they name, the rest above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.message_dict.items():
            self.add_error(field if field in self.fields else None, errors)


@dataclass(frozen=True)
class ColumnRow:
    """One column of the file on the mapping page, its fields rendered."""

    name: str
    target_id: str
    target: SafeString
    target_errors: SafeString
    variable: SafeString
    variable_errors: SafeString


def _options(choices: Sequence[tuple[str, str]], selected: str) -> SafeString:
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, mark_safe(" selected") if value == selected else "", label) for value, label in choices),
    )


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _error_list(errors: list[str]) -> SafeString:
    if not errors:
        return mark_safe("")
    return format_html(
        '<ul class="errorlist">{}</ul>', format_html_join("", "<li>{}</li>", ((error,) for error in errors))
    )


def _target_label(target: str) -> str:
    if target.startswith("var:"):
        return f"the variable “{target[4:]}”"
    return dict(TARGET_CHOICES).get(target, target)
