"""Per-row validation with the admin's rules, compiled once per import instead of a
``full_clean()`` per row.

The rules come from where the admin takes them: the phone pattern from
``chatusers.validators``, channels and languages from the model's choices (themselves
checked against the wire vocabulary), lengths from the model fields, emails from Django's
``validate_email`` (what ``EmailField`` runs). Uniqueness is not a property of one row: the
upsert checks it against the database and against earlier rows of the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from chatusers.export import FORMULA_PREFIXES
from chatusers.imports.mapping import SKIP, VARIABLE_PREFIX
from chatusers.models import LANGUAGE_CHOICES, Channel, ChatUser, Tag
from chatusers.validators import phone_validator

_PHONE = phone_validator.regex
_CHANNELS = frozenset(Channel.values)
_LANGUAGES = frozenset(code for code, _ in LANGUAGE_CHOICES)
_MAX_LENGTH = {
    name: ChatUser._meta.get_field(name).max_length for name in ("name", "surname", "email", "phone")
}
_MAX_LENGTH["client_ref"] = ChatUser._meta.get_field("client_ref").max_length
_MAX_LENGTH["remote_id"] = ChatUser._meta.get_field("remote_id").max_length
_TAG_MAX = Tag._meta.get_field("name").max_length
TAG_SEPARATOR = "|"


@dataclass
class ParsedRow:
    """A valid row: the fields it gives a value (an empty cell gives none), its tags (None
    when the file gives none) and variables."""

    number: int
    cells: list[str]
    fields: dict[str, str] = field(default_factory=dict)
    tags: list[str] | None = None
    variables: dict[str, str] = field(default_factory=dict)


def unquoted(text: str) -> str:
    """A cell without the ``'`` our export puts before a formula-like value, so an export
    re-imports to the same text. Nothing else is touched: a value is stored as text and
    never evaluated here."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


class RowValidator:
    """Checks and normalises the cells of one row against a mapping; built once per file."""

    def __init__(self, header: Sequence[str], mapping: Mapping[str, str]) -> None:
        self.width = len(header)
        self.columns: list[tuple[int, str]] = [
            (index, mapping.get(column, SKIP)) for index, column in enumerate(header)
        ]
        self.columns = [(index, target) for index, target in self.columns if target != SKIP]

    def parse(self, number: int, cells: list[str]) -> ParsedRow | str:
        """The row's values, or the reason it is rejected (naming the column)."""
        if len(cells) != self.width:
            return f"The row has {len(cells)} cells; the header has {self.width}."
        row = ParsedRow(number=number, cells=cells)
        errors = []
        for index, target in self.columns:
            raw = cells[index]
            if "\x00" in raw:
                errors.append(f"{target}: holds a NUL character.")
                continue
            value = unquoted(raw.strip())
            if not value:
                continue
            if target.startswith(VARIABLE_PREFIX):
                row.variables[target[len(VARIABLE_PREFIX) :]] = value
                continue
            error = self._check(target, value, row)
            if error:
                errors.append(error)
        if errors:
            return " ".join(errors)
        return row

    def _check(self, target: str, value: str, row: ParsedRow) -> str:
        if target == "tags":
            names = list(dict.fromkeys(name.strip() for name in value.split(TAG_SEPARATOR) if name.strip()))
            too_long = [name for name in names if len(name) > _TAG_MAX]
            if too_long:
                return f"tags: a tag name has at most {_TAG_MAX} characters."
            row.tags = names
            return ""
        limit = _MAX_LENGTH.get(target)
        if limit is not None and len(value) > limit:
            return f"{target}: at most {limit} characters (it has {len(value)})."
        if target == "email":
            try:
                validate_email(value)
            except ValidationError:
                return f"email: “{_shown(value)}” is not a valid email address."
        elif target == "phone":
            if not _PHONE.search(value):
                return f"phone: “{_shown(value)}” is not in E.164 form (a + and 2 to 15 digits, e.g. +393331234567)."
        elif target == "channel":
            value = value.lower()
            if value not in _CHANNELS:
                return f"channel: “{_shown(value)}” is not one of {', '.join(sorted(_CHANNELS))}."
        elif target == "language":
            value = value.lower()
            if value not in _LANGUAGES:
                return f"language: “{_shown(value)}” is not an ISO 639-1 code (two letters, e.g. it, en)."
        row.fields[target] = value
        return ""


def _shown(value: str) -> str:
    return value if len(value) <= 60 else f"{value[:57]}..."
