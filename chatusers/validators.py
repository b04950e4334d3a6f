"""Validators for chat user data, matching the wire contract's rules (section 4)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, validate_email

phone_validator = RegexValidator(
    r"^\+[1-9][0-9]{1,14}\Z",
    "Enter a phone number in E.164 form: a + and 2 to 15 digits, e.g. +393331234567.",
)
color_validator = RegexValidator(r"^#[0-9a-fA-F]{6}\Z", "Enter a colour as #rrggbb, e.g. #1e88e5.")

EMAIL_MAX_LENGTH = 254  # EmailField's, and RFC 5321's bound on a path
# A subset of the addresses ``validate_email`` accepts, tested first because it is cheap;
# whatever it does not match goes to ``validate_email``, which alone decides. (Both cases
# spelt out: IGNORECASE makes the expression half as fast again, on every chat user a pull reads.)
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z"
)

DECIMAL_NUMBER = r"\A[+-]?[0-9]+(\.[0-9]+)?\Z"
_DECIMAL = re.compile(DECIMAL_NUMBER)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def email_problem(value: str) -> str:
    """Why ``value`` is no email address a chat user can hold here (what ``EmailField``
    accepts), or "" when it is one."""
    if len(value) > EMAIL_MAX_LENGTH:
        return f"must have at most {EMAIL_MAX_LENGTH} characters"
    if _PLAIN_EMAIL.match(value):
        return ""
    try:
        validate_email(value)
    except ValidationError:
        return "is not a valid email address"
    return ""


def is_decimal_number(text: str) -> bool:
    """Whether ``text`` is a decimal number as segment filters read one: sign, digits, fraction."""
    return bool(_DECIMAL.match(text))


def parse_instant(text: str) -> datetime | None:
    """The aware time a segment filter's value means: a date is its 00:00 UTC; else None."""
    if not text:
        return None
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
