"""A chart's table as a CSV download: the same cells as its table view, text cells made
inert for a spreadsheet (``chatusers.export.neutralised``)."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse

from insights.admin_charts import ChartTable


def csv_text(table: ChartTable) -> str:
    """The table as CSV text: the header, then one line per row."""
    out = io.StringIO()
    csv.writer(out).writerows(table.csv_rows())
    return out.getvalue()


def csv_response(table: ChartTable, *, filename: str) -> HttpResponse:
    response = HttpResponse(csv_text(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
