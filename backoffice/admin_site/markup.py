"""``format_html`` for the cells of long lists.

The same escaping: a value that says it is HTML (``__html__``) is kept, anything else is
escaped as text. Without the lazy-text wrappers Django puts around every argument, which at
a few hundred cells a page cost as much as the formatting itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from django.utils.safestring import SafeString, mark_safe


def markup(format_string: str, *args: Any) -> SafeString:
    """``format_string`` (trusted markup) with each argument escaped unless already HTML."""
    # Every argument is escaped or is HTML already, as format_html would have it.
    return mark_safe(format_string.format(*[_escaped(arg) for arg in args]))  # noqa: S308


def markup_join(separator: str, format_string: str, args_list: Iterable[Iterable[Any]]) -> SafeString:
    """``format_html_join``: ``markup`` of each argument list, joined by ``separator`` (escaped
    unless already HTML)."""
    formatted = [format_string.format(*[_escaped(arg) for arg in args]) for args in args_list]
    return mark_safe(_escaped(separator).join(formatted))  # noqa: S308


def _escaped(value: Any) -> str:
    if type(value) is str:
        return escape(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return escape(str(value))
