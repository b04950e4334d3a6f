"""A lead's tags: how one is checked when made here, and the key that finds it.

Userbot compares tags case-insensitively, so the key is the tag in lower case. A tag
from Userbot is stored as it came, however long (the pull warns); the key of one longer
than ``TAG_MAX`` is a digest, so the index that finds tags never holds a long value.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError

TAG_MAX = 100
_DIGEST_PREFIX = "#sha256:"


def tag_key(tag: str) -> str:
    """The key of ``tag``: its lower case, or a digest of it for a tag over ``TAG_MAX``."""
    lowered = tag.strip().lower()
    if len(lowered) <= TAG_MAX:
        return lowered
    return _DIGEST_PREFIX + hashlib.sha256(lowered.encode()).hexdigest()


def clean_tag(value: str) -> str:
    """A tag made here: trimmed, 1 to ``TAG_MAX`` characters, else ValidationError."""
    tag = value.strip()
    if not tag:
        raise ValidationError("A tag cannot be empty or only spaces.", code="tag_empty")
    if len(tag) > TAG_MAX:
        raise ValidationError(
            f"A tag is at most {TAG_MAX} characters; this one has {len(tag):,}.", code="tag_too_long"
        )
    return tag


def doc_tags(tags: list[str]) -> list[str]:
    """Tags as a document holds them: lower case, each once, sorted (Userbot's comparison)."""
    return sorted({tag.strip().lower() for tag in tags})
