"""A changelist's rows as Django's ``result_list`` writes them, built once per column rather
than once per cell.

Django's ``items_for_result`` works out every cell from scratch: whether the column is a
field (by raising and catching ``FieldDoesNotExist`` for each method column), its empty
value, its classes, and for the linked column a ``reverse()`` and the preserved filters of
each row; the template then writes each cell on its own. At 100 rows of 8 columns that is
most of the time a list page takes. Here each column is resolved once per page, the change
link once (only the primary key differs between rows), and a row is one string. The
markup is the same, character for character (``tests/test_admin_rows.py`` compares them).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from html import escape
from typing import Any

from django.contrib.admin.templatetags.admin_list import ResultList, items_for_result
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
    lookup_field,
)
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.safestring import SafeString, mark_safe

# Stands for the primary key in the change link reversed once for the page: the change
# view's path converter takes it as it takes a key, and it is split off at its first
# occurrence, which is in the path (the preserved filters follow, in the query string).
_PK = "~pk~"

Cell = Callable[[Any], str]


def fast_results(cl: ChangeList) -> Iterator[ResultList]:
    """The rows of ``cl.result_list``, each a ResultList of one item: the row's cells, joined
    as the admin's template would join them. Lists the shortcut does not cover (editable
    lists, popups, lists linked by another field) get Django's own rows."""
    if cl.formset or cl.is_popup or cl.to_field:
        for result in cl.result_list:
            yield ResultList(None, items_for_result(cl, result, None))
        return
    cells = _cells(cl)
    for result in cl.result_list:
        # Each cell escaped what it did not know to be safe, as format_html would have.
        yield ResultList(None, [mark_safe("".join([cell(result) for cell in cells]))])  # noqa: S308


def _cells(cl: ChangeList) -> list[Cell]:
    empty_value_display = cl.model_admin.get_empty_value_display()
    cells = []
    linked = False
    for index, name in enumerate(cl.list_display):
        link = _links(cl, name, before_any_link=not linked)
        cells.append(_cell(cl, name, index, empty_value_display, link, header=link and not linked))
        linked = linked or link
    return cells


def _links(cl: ChangeList, name: Any, *, before_any_link: bool) -> bool:
    """items_for_result's ``link_in_col``: the columns of ``list_display_links`` link to the
    change page (the first of them is the row's header, a ``th``), or the first column if
    that is empty."""
    if cl.list_display_links is None:
        return False
    if before_any_link and not cl.list_display_links:
        return True
    return name in cl.list_display_links


def _cell(
    cl: ChangeList, name: Any, index: int, empty_value_display: str, link: bool, *, header: bool
) -> Cell:
    """The function that writes this column's cell of a row."""
    classes = f"field-{_column_name(name, index)}"
    method = _method(cl, name)
    if method is not None:
        shown_empty = getattr(method, "empty_value_display", empty_value_display)
        boolean = getattr(method, "boolean", False)
        if name == "action_checkbox":
            classes = "action-checkbox"

        def shown_of(result: Any) -> tuple[Any, bool]:
            value = method(result)
            if not boolean and type(value) is SafeString and value.strip():
                return value, False  # the markup the column wrote, as items_for_result shows it
            return _shown_value(value, shown_empty, boolean)
    else:

        def shown_of(result: Any) -> tuple[Any, bool]:
            f, attr, value = lookup_field(name, result, cl.model_admin)
            if f is None or f.auto_created:
                boolean = getattr(attr, "boolean", False)
                if isinstance(attr, property) and hasattr(attr, "fget"):
                    boolean = getattr(attr.fget, "boolean", False)
                shown_empty = getattr(attr, "empty_value_display", empty_value_display)
                return _shown_value(value, shown_empty, boolean)
            if isinstance(value, str) and value.strip() == "":
                value = ""
            if isinstance(f.remote_field, models.ManyToOneRel):
                shown = value if value is not None else empty_value_display
            else:
                shown = display_for_field(value, f, empty_value_display, avoid_link=link)
            return shown, isinstance(f, (models.DateField, models.TimeField, models.ForeignKey))

    wrap = _linker(cl) if link else None
    tag = "th" if header else "td"

    def cell(result: Any) -> str:
        try:
            shown, nowrap = shown_of(result)
        except ObjectDoesNotExist:
            shown, nowrap = empty_value_display, False
        html = shown.__html__() if hasattr(shown, "__html__") else escape(str(shown))
        row_class = f"{classes} nowrap" if nowrap else classes
        if wrap is not None:
            return f'<{tag} class="{row_class}">{wrap(result, html)}</{tag}>'
        return f'<td class="{row_class}">{html}</td>'

    return cell


def _method(cl: ChangeList, name: Any) -> Callable[[Any], Any] | None:
    """The callable a column calls with the row, as lookup_field finds it (a model field of
    the name wins), or None for a field or an attribute of the row."""
    try:
        _get_non_gfk_field(cl.lookup_opts, name)
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        if callable(name):
            return name
        if hasattr(cl.model_admin, name) and name != "__str__":
            return getattr(cl.model_admin, name)
    return None


def _shown_value(value: Any, empty_value_display: Any, boolean: bool) -> tuple[Any, bool]:
    """What items_for_result shows for a value that is not a model field's, and whether the
    cell must not wrap."""
    if isinstance(value, str) and value.strip() == "":
        value = ""
    return (
        display_for_value(value, empty_value_display, boolean),
        isinstance(value, (datetime.date, datetime.time)),
    )


def _linker(cl: ChangeList) -> Callable[[Any, str], str]:
    """Wraps a cell's HTML in the link to the row's change page, preserving the list's filters."""
    try:
        url = cl.url_for_result(_StandIn(cl.pk_attname))
    except NoReverseMatch:
        return lambda result, html: html
    url = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url)
    before, _, after = url.partition(_PK)
    before, after = escape(before), escape(after)

    def wrap(result: Any, html: str) -> str:
        pk = getattr(result, cl.pk_attname)
        if isinstance(pk, int):
            return f'<a href="{before}{pk}{after}">{html}</a>'
        # A text key is quoted by reverse() in ways a substitution would not repeat.
        exact = add_preserved_filters(
            {"preserved_filters": cl.preserved_filters, "opts": cl.opts}, cl.url_for_result(result)
        )
        return f'<a href="{escape(exact)}">{html}</a>'

    return wrap


class _StandIn:
    """A row whose primary key is the placeholder, to reverse the change link once."""

    def __init__(self, pk_attname: str) -> None:
        setattr(self, pk_attname, _PK)


def _column_name(name: Any, index: int) -> str:
    if callable(name):
        return "lambda" + str(index) if name.__name__ == "<lambda>" else name.__name__
    return name
