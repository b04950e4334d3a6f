"""A chart's table view as HTML, written in Python: a year of days in several tables is
thousands of cells, which the template language would spend most of the page's time on.

Each row is one ``str.format`` of markup prepared once per table, with ``html.escape`` on
its text cells alone: a figure is written by ``column_text`` from a number (digits, a sign,
a point) and a moment by ``read_text``, so they hold nothing to escape. A helper call per
cell made this the page's largest part at a year of days."""

from __future__ import annotations

from html import escape

from django.utils.safestring import SafeString, mark_safe

from backoffice.admin_site.markup import markup, markup_join
from insights.admin_charts import NUMERIC, ChartTable


def table_html(table: ChartTable, *, sort_urls: dict[str, tuple[str, str]] | None = None) -> SafeString:
    """The table: a header, then a row per day (or week, channel, bot) with the cells the CSV
    holds; a row whose figures are missing or not valid is marked and its note says why.
    ``sort_urls`` makes the headers of the columns it names (``name`` for the first) links
    that sort by them, each with its URL and how the table is sorted by it now."""
    kinds = ["text", *(column.kind for column in table.columns), "text", "text"]
    classes = ["label", *("num" if kind in NUMERIC else "text" for kind in kinds[1:-2]), "note", "read"]
    keys = ["name", *(column.key for column in table.columns), "", ""]
    head = markup_join(
        "",
        "{}",
        (
            _header(key, css, text, sort_urls)
            for key, css, text in zip(keys, classes, table.header(), strict=True)
        ),
    )
    # The cells after the label as one format string (the classes are fixed words, no braces),
    # and which of them are text to escape: not the figures, nor the last, when the row was
    # read, which ``read_text`` writes from a moment.
    cells_format = "".join(f'<td class="{css}">{{}}</td>' for css in classes[1:])
    text_at = [n - 1 for n, kind in enumerate(kinds[:-1]) if n and kind not in NUMERIC]
    rows = []
    for row, cells in zip(table.rows, table.text_rows, strict=True):
        shown = cells[1:]
        for n in text_at:
            if shown[n]:
                shown[n] = escape(shown[n])
        label = escape(cells[0])
        if row.link:
            label = f'<a href="{escape(row.link)}">{label}</a>'
        opening = '<tr class="insights-gap">' if row.note else "<tr>"
        rows.append(f'{opening}<th scope="row">{label}</th>{cells_format.format(*shown)}</tr>')
    return markup(
        '<table class="insights-data" data-table="{}"><caption>{}</caption><thead><tr>{}</tr></thead>'
        "<tbody>{}</tbody></table>",
        table.key,
        table.title,
        head,
        mark_safe("".join(rows)),  # noqa: S308 (text cells, labels and links escaped above)
    )


def _header(key: str, css: str, text: str, sort_urls: dict[str, tuple[str, str]] | None) -> tuple[SafeString]:
    if not sort_urls or key not in sort_urls:
        return (markup('<th scope="col" class="{}">{}</th>', css, text),)
    url, state = sort_urls[key]
    # The arrow is drawn by the stylesheet from aria-sort, so the header's text stays the
    # CSV's header.
    sorted_by = markup(' aria-sort="{}"', state) if state else ""
    return (markup('<th scope="col" class="{}"{}><a href="{}">{}</a></th>', css, sorted_by, url, text),)
