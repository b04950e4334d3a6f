"""Per-row validation with the admin's rules, compiled once per import instead of a
``full_clean()`` per row.

The rules come from where the admin takes them: the phone pattern from
``chatusers.validators``, channels and languages from the model's choices (themselves
checked against the wire vocabulary), lengths from the model fields, emails from Django's
``validate_email`` (what ``EmailField`` runs). Uniqueness is not a property of one row: the
upsert checks it against the database and against earlier rows of the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from chatusers.export import FORMULA_PREFIXES
from chatusers.imports.mapping import SKIP, VARIABLE_PREFIX
from chatusers.models import LANGUAGE_CHOICES, Channel, ChatUser, ChatUserSync, Tag
from chatusers.validators import phone_validator

# The validator's own pattern, unwrapped from its lazy object (which costs a call per use).
_PHONE = re.compile(phone_validator.regex.pattern, phone_validator.regex.flags)
_CHANNELS = frozenset(Channel.values)
_LANGUAGES = frozenset(code for code, _ in LANGUAGE_CHOICES)
_MAX_LENGTH = {
    name: ChatUser._meta.get_field(name).max_length for name in ("name", "surname", "email", "phone")
}
_MAX_LENGTH["client_ref"] = ChatUser._meta.get_field("client_ref").max_length
_MAX_LENGTH["remote_id"] = ChatUserSync._meta.get_field("remote_id").max_length
_TAG_MAX = Tag._meta.get_field("name").max_length
TAG_SEPARATOR = "|"


@dataclass(slots=True)
class ParsedRow:
    """A valid row: the fields it gives a value (an empty cell gives none), its tags (None
    when the file gives none) and variables."""

    number: int
    cells: list[str]
    fields: dict[str, str] = field(default_factory=dict)
    tags: list[str] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    keys: list[str] | None = None  # the upsert's match keys ("e:<email>", ...), worked out once


def unquoted(text: str) -> str:
    """A cell without the ``'`` our export puts before a formula-like value, so an export
    re-imports to the same text. Nothing else is touched: a value is stored as text and
    never evaluated here."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


class RowValidator:
    """Checks and normalises the cells of one row against a mapping; built once per file,
    with one check function per mapped column, so a row costs a loop and no lookups."""

    def __init__(self, header: Sequence[str], mapping: Mapping[str, str]) -> None:
        self.width = len(header)
        self.max_tags = settings.CHATUSER_IMPORT_MAX_TAGS_PER_CELL
        self.fields: list[tuple[int, str, Callable[[str], tuple[str, str]]]] = []
        self.variables: list[tuple[int, str]] = []
        self.tags_index: int | None = None
        for index, column in enumerate(header):
            target = mapping.get(column, SKIP)
            if target == SKIP:
                continue
            if target.startswith(VARIABLE_PREFIX):
                self.variables.append((index, target[len(VARIABLE_PREFIX) :]))
            elif target == "tags":
                self.tags_index = index
            else:
                self.fields.append((index, target, _CHECKS.get(target) or _length_check(target)))

    def parse(self, number: int, cells: list[str]) -> ParsedRow | str:
        """The row's values, or the reason it is rejected (naming each bad column)."""
        if len(cells) != self.width:
            cells_read = f"{len(cells)} cell" if len(cells) == 1 else f"{len(cells)} cells"
            return f"The row has {cells_read}; the header has {self.width}."
        row = ParsedRow(number=number, cells=cells)
        errors = []
        values = row.fields
        for index, target, check in self.fields:
            raw = cells[index]
            if not raw:
                continue
            value, error = check(_cleaned(raw))
            if error:
                errors.append(f"{target}: {error}")
            elif value:
                values[target] = value
        for index, name in self.variables:
            raw = cells[index]
            if raw:
                value = _cleaned(raw)
                if "\x00" in value:
                    errors.append(f"var:{name}: holds a NUL character.")
                elif value:
                    row.variables[name] = value
        if self.tags_index is not None and cells[self.tags_index]:
            tags, error = _tags(_cleaned(cells[self.tags_index]), self.max_tags)
            if error:
                errors.append(f"tags: {error}")
            elif tags:
                row.tags = tags
        if errors:
            return " ".join(errors)
        return row


def _cleaned(raw: str) -> str:
    value = raw.strip()
    return unquoted(value) if value[:1] == "'" else value


def _nul(value: str) -> str:
    return "holds a NUL character." if "\x00" in value else ""


def _length_check(target: str) -> Callable[[str], tuple[str, str]]:
    limit = _MAX_LENGTH[target]

    def check(value: str) -> tuple[str, str]:
        if len(value) > limit:
            return value, f"at most {limit} characters (it has {len(value)})."
        return value, _nul(value)

    return check


# A subset of the addresses ``validate_email`` accepts, tested first because it is cheap;
# whatever it does not match goes to ``validate_email``, which alone decides.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z", re.IGNORECASE
)


def _email(value: str) -> tuple[str, str]:
    if len(value) > _MAX_LENGTH["email"]:
        return value, f"at most {_MAX_LENGTH['email']} characters (it has {len(value)})."
    if _PLAIN_EMAIL.match(value):
        return value, ""
    try:
        validate_email(value)
    except ValidationError:
        return value, f"“{_shown(value)}” is not a valid email address."
    return value, ""


def _phone(value: str) -> tuple[str, str]:
    if _PHONE.search(value):
        return value, ""
    return value, f"“{_shown(value)}” is not in E.164 form (a + and 2 to 15 digits, e.g. +393331234567)."


def _channel(value: str) -> tuple[str, str]:
    value = value.lower()
    if value in _CHANNELS:
        return value, ""
    return value, f"“{_shown(value)}” is not one of {', '.join(sorted(_CHANNELS))}."


def _language(value: str) -> tuple[str, str]:
    value = value.lower()
    if value in _LANGUAGES:
        return value, ""
    return value, f"“{_shown(value)}” is not an ISO 639-1 code (two letters, e.g. it, en)."


def _tags(value: str, max_tags: int) -> tuple[list[str], str]:
    names = list(dict.fromkeys(name.strip() for name in value.split(TAG_SEPARATOR) if name.strip()))
    if len(names) > max_tags:
        return names, f"at most {max_tags} tags in a cell (it has {len(names)})."
    if any(len(name) > _TAG_MAX for name in names):
        return names, f"a tag name has at most {_TAG_MAX} characters."
    if any("\x00" in name for name in names):
        return names, "holds a NUL character."
    return names, ""


_CHECKS: dict[str, Callable[[str], tuple[str, str]]] = {
    "email": _email,
    "phone": _phone,
    "channel": _channel,
    "language": _language,
}


def _shown(value: str) -> str:
    return value if len(value) <= 60 else f"{value[:57]}..."
