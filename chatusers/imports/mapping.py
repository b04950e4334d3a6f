"""Which file column feeds which chat user field: the proposed mapping and its validation.

A target is a field (``FIELD_TARGETS``), ``var:<name>`` for a variable, or ``skip``. The
headers our own export writes (and Userbot's import reads) match themselves, so an exported
file maps without a choice; a few common spellings match too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError

FIELD_TARGETS = (
    "name",
    "surname",
    "email",
    "phone",
    "channel",
    "language",
    "tags",
    "client_ref",
    "remote_id",
)
SKIP = "skip"
VARIABLE_PREFIX = "var:"
VARIABLE_NAME_MAX = 200
# Normalised header (lower case, letters and digits only) -> target.
_ALIASES = {
    "id": "remote_id",
    "userbotid": "remote_id",
    "remoteid": "remote_id",
    "clientref": "client_ref",
    "name": "name",
    "firstname": "name",
    "givenname": "name",
    "nome": "name",
    "surname": "surname",
    "lastname": "surname",
    "familyname": "surname",
    "cognome": "surname",
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "mobile": "phone",
    "telefono": "phone",
    "channel": "channel",
    "language": "language",
    "lang": "language",
    "lingua": "language",
    "tags": "tags",
    "tag": "tags",
}


def _normalised(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def propose_mapping(header: Sequence[str]) -> dict[str, str]:
    """A target for every header: matched fields, ``var:<name>`` headers as variables, the
    rest ``skip`` until the operator chooses. A field is proposed for one column only."""
    proposal: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        if column.startswith(VARIABLE_PREFIX) and column[len(VARIABLE_PREFIX) :].strip():
            target = f"{VARIABLE_PREFIX}{column[len(VARIABLE_PREFIX) :].strip()}"
        else:
            target = _ALIASES.get(_normalised(column), SKIP)
        if target != SKIP and target in taken:
            target = SKIP
        taken.add(target)
        proposal[column] = target
    return proposal


def validate_mapping(header: Sequence[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """``mapping`` checked against the file's header: every column mapped (a missing one is
    skipped), each target valid and used once. Raises ValidationError keyed ``mapping``."""
    errors = []
    unknown = [column for column in mapping if column not in header]
    if unknown:
        errors.append(f"The file has no column {', '.join(f'“{c}”' for c in unknown)}.")
    checked: dict[str, str] = {}
    used: dict[str, str] = {}
    for column in header:
        target = (mapping.get(column) or SKIP).strip()
        if target.startswith(VARIABLE_PREFIX):
            name = target[len(VARIABLE_PREFIX) :].strip()
            if not name:
                errors.append(f"Column “{column}”: a variable needs a name.")
                continue
            if len(name) > VARIABLE_NAME_MAX:
                errors.append(
                    f"Column “{column}”: a variable name has at most {VARIABLE_NAME_MAX} characters."
                )
                continue
            target = f"{VARIABLE_PREFIX}{name}"
        elif target not in FIELD_TARGETS and target != SKIP:
            errors.append(f"Column “{column}”: “{target}” is not a field a column can be imported into.")
            continue
        if target != SKIP and target in used:
            errors.append(f"Columns “{used[target]}” and “{column}” are both mapped to {target}.")
            continue
        used[target] = column
        checked[column] = target
    if errors:
        raise ValidationError({"mapping": errors})
    return checked
