"""The closed sets of values the wire contract (section 4) allows, written once.

The models, the admin's forms and the sandbox all validate against these, so a value one
side accepts the other cannot refuse. Pure Python: the sandbox imports it without Django.
"""

from __future__ import annotations

from collections.abc import Iterable

CHANNELS = ("webchat", "whatsapp", "messenger", "instagram", "telegram", "api")

# Segments.
MATCHES = ("all", "any")
OPS = ("eq", "neq", "contains", "exists", "not_exists", "gt", "lt")
VALUELESS_OPS = frozenset({"exists", "not_exists"})
ORDERED_OPS = frozenset({"gt", "lt"})
_TEXT_OPS = frozenset({"eq", "neq", "contains", "exists", "not_exists"})
# Every valid pair of field and op; anything else is invalid (400).
FIELD_OPS: dict[str, frozenset[str]] = {
    "tag": frozenset({"eq", "neq", "exists", "not_exists"}),
    "variable": frozenset({"eq", "neq", "contains", "gt", "lt", "exists", "not_exists"}),
    "channel": _TEXT_OPS,
    "language": _TEXT_OPS,
    "email": _TEXT_OPS,
    "created_at": frozenset({"gt", "lt"}),
    "last_seen_at": frozenset({"gt", "lt", "exists", "not_exists"}),
}
FILTER_FIELDS = tuple(FIELD_OPS)
# Fields whose gt / lt value is a date or an ISO 8601 time.
INSTANT_FIELDS = frozenset({"created_at", "last_seen_at"})

# Automated messages: their conditions take the segment filter ops.
TRIGGERS = ("page_visit", "time_on_page", "returning_user", "exit_intent")
CONDITION_FIELDS = ("url", "language", "channel", "tag", "variable")
CONDITION_OPS = OPS
ANSWER_TYPES = ("text", "buttons", "image")


def require_wire_values(name: str, values: Iterable[str], wire_values: Iterable[str]) -> None:
    """Fail at import when a set of choices no longer holds exactly the contract's values."""
    have, want = set(values), set(wire_values)
    if have != want:
        raise ValueError(f"{name} differs from the wire contract: has {sorted(have)}, needs {sorted(want)}")
