"""WebSocket consumers of the chat user domain: the live progress of a CSV import."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import URLPattern, path

from chatusers.admin.imports import can_view_imports
from chatusers.import_models import ImportJob
from chatusers.imports import selectors
from chatusers.imports.progress import progress_group

# A refused handshake: the browser then falls back to polling, which answers the same way.
REFUSED = 4403


class ImportProgressConsumer(AsyncJsonWebsocketConsumer):
    """Forwards an import's ``import.progress`` messages to one browser that may see the job.

    The first message is the job's progress when the socket opens, so a page never waits
    for the next chunk to show where the import is.
    """

    group_name: str | None = None

    async def connect(self) -> None:
        job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        progress = await _progress_if_allowed(self.scope.get("user"), job_id)
        if progress is None:
            await self.close(code=REFUSED)
            return
        self.group_name = progress_group(job_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        await self.send_json(progress)

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def import_progress(self, message: dict[str, Any]) -> None:
        await self.send_json({key: value for key, value in message.items() if key != "type"})


@database_sync_to_async
def _progress_if_allowed(user: Any, job_id: int) -> dict[str, Any] | None:
    if user is None or not can_view_imports(user):
        return None
    job = ImportJob.objects.filter(pk=job_id).first()
    return None if job is None else selectors.import_progress(job=job)


websocket_urlpatterns: list[URLPattern] = [
    path("ws/chatusers/imports/<int:job_id>/", ImportProgressConsumer.as_asgi()),
]
