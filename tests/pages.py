"""What an admin page's HTML says, read as a person reads it."""

from __future__ import annotations

import html
import re

_CRUMBS = re.compile(r'<div class="breadcrumbs">(.*?)</div>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def crumbs(page: str) -> list[str]:
    """The page's breadcrumbs, level by level, as text."""
    found = _CRUMBS.search(page)
    assert found, "the page has no breadcrumbs"
    text = html.unescape(_TAG.sub("", found.group(1)))
    return [" ".join(level.split()) for level in text.split("\u203a")]
