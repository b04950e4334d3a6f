"""Three-way comparison of an object's documents: the last synced one, ours and Userbot's.

A document is the flat, JSON-ready form of an object that both sides hold, the same for
every kind: field name to value. A value is compared whole, except the key ``tags``
(a sorted list of names), which is a set: adding and removing different tags on the two
sides merges. A key that is absent stands for "not set" (a chat user's variables are keys
``var:<name>``), so setting and removing a variable are changes like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]
SET_KEYS = frozenset({"tags"})
_ABSENT = object()


@dataclass(frozen=True)
class Conflict:
    key: str
    base: Any
    local: Any
    remote: Any


@dataclass
class Merge:
    """The merged document, and the keys both sides changed to different values."""

    doc: Doc
    conflicts: list[Conflict] = field(default_factory=list)


def changed_keys(before: Doc, after: Doc) -> list[str]:
    """The keys whose value differs between two documents (present on one side only counts)."""
    keys = before.keys() | after.keys()
    return sorted(k for k in keys if before.get(k, _ABSENT) != after.get(k, _ABSENT))


def set_delta(before: Doc, after: Doc, key: str = "tags") -> tuple[list[str], list[str]]:
    """What ``after`` added to and removed from the set at ``key`` of ``before``."""
    old, new = set(before.get(key) or ()), set(after.get(key) or ())
    return sorted(new - old), sorted(old - new)


def three_way(base: Doc | None, local: Doc, remote: Doc, *, prefer: str | None) -> Merge:
    """Merge ``local`` and ``remote`` edits of ``base``.

    A key changed on one side only takes that side's value; a key changed on both sides to
    the same value is no conflict. Otherwise it is a conflict that ``prefer`` settles
    ("local" or "remote"); with ``prefer=None`` the merged document keeps the local value
    and the conflict is returned for an operator. Without a base (never synced), every
    difference is a conflict.
    """
    base = base if base is not None else {}
    merged: Doc = {}
    conflicts: list[Conflict] = []
    for key in sorted(base.keys() | local.keys() | remote.keys()):
        b, mine, theirs = base.get(key, _ABSENT), local.get(key, _ABSENT), remote.get(key, _ABSENT)
        if key in SET_KEYS:
            b_set, l_set, r_set = (set() if v is _ABSENT else set(v or ()) for v in (b, mine, theirs))
            merged[key] = sorted(
                (b_set | (l_set - b_set) | (r_set - b_set)) - (b_set - l_set) - (b_set - r_set)
            )
            continue
        if mine == theirs or theirs == b:
            value = mine
        elif mine == b:
            value = theirs
        else:
            conflicts.append(Conflict(key, _plain(b), _plain(mine), _plain(theirs)))
            value = theirs if prefer == "remote" else mine
        if value is not _ABSENT:
            merged[key] = value
    return Merge(merged, conflicts)


def _plain(value: Any) -> Any:
    return None if value is _ABSENT else value
