"""Lists whose operator picks the columns: a list fits the screen with the columns most
people need, and the rest are one click away. The choice is kept per list in a cookie, so
the server renders only the chosen columns (no hidden cells cost anything)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from django.contrib.admin.utils import label_for_field
from django.http import HttpRequest, HttpResponse

COOKIE_PREFIX = "bo_cols_"


class ColumnChoiceMixin:
    """``fixed_columns`` always show; of ``choosable_columns`` (in their order) the operator
    picks, ``default_columns`` until they do."""

    fixed_columns: Sequence[str] = ()
    choosable_columns: Sequence[str] = ()
    default_columns: Sequence[str] = ()
    model: Any
    opts: Any

    def columns_cookie(self) -> str:
        return f"{COOKIE_PREFIX}{self.opts.app_label}_{self.opts.model_name}"

    def chosen_columns(self, request: HttpRequest) -> list[str]:
        raw = unquote(request.COOKIES.get(self.columns_cookie(), ""))
        chosen = [name for name in raw.split(",") if name in self.choosable_columns]
        return chosen or list(self.default_columns)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        chosen = set(self.chosen_columns(request))
        return [*self.fixed_columns, *(name for name in self.choosable_columns if name in chosen)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        chosen = set(self.chosen_columns(request))
        picker = {
            "cookie": self.columns_cookie(),
            "columns": [
                (name, str(label_for_field(name, self.model, self)).capitalize(), name in chosen)
                for name in self.choosable_columns
            ],
        }
        return super().changelist_view(request, {"column_picker": picker, **(extra_context or {})})  # type: ignore[misc]
