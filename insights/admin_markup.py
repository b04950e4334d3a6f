"""A chart's table view as HTML, written in Python: a year of days in several tables is
thousands of cells, which the template language would spend most of the page's time on."""

from __future__ import annotations

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
    rows = []
    for row, cells in zip(table.rows, table.text_rows, strict=True):
        label = markup('<a href="{}">{}</a>', row.link, cells[0]) if row.link else cells[0]
        figures = markup_join("", '<td class="{}">{}</td>', zip(classes[1:], cells[1:], strict=True))
        marked = ' class="insights-gap"' if row.note else ""
        rows.append(markup('<tr{}><th scope="row">{}</th>{}</tr>', mark_safe(marked), label, figures))  # noqa: S308
    return markup(
        '<table class="insights-data" data-table="{}"><caption>{}</caption><thead><tr>{}</tr></thead>'
        "<tbody>{}</tbody></table>",
        table.key,
        table.title,
        head,
        mark_safe("".join(rows)),  # noqa: S308 (each row built by markup)
    )


def _header(key: str, css: str, text: str, sort_urls: dict[str, tuple[str, str]] | None) -> tuple[SafeString]:
    if not sort_urls or key not in sort_urls:
        return (markup('<th scope="col" class="{}">{}</th>', css, text),)
    url, state = sort_urls[key]
    # The arrow is drawn by the stylesheet from aria-sort, so the header's text stays the
    # CSV's header.
    sorted_by = markup(' aria-sort="{}"', state) if state else ""
    return (markup('<th scope="col" class="{}"{}><a href="{}">{}</a></th>', css, sorted_by, url, text),)
