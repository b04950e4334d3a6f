"""Celery tasks of the chat user domain, where the worker looks for them (each app's
``tasks`` module). The CSV import's tasks live with the import, whose services queue them
(``chatusers.imports.tasks``): importing them here registers them."""

from __future__ import annotations

from chatusers.imports.tasks import import_cleanup, import_run

__all__ = ["import_cleanup", "import_run"]
