"""The timeline block of a chat user's page: one page of ``chatusers.timeline`` at a time,
paged back with ``?timeline_before=<ISO moment>`` (a plain link: no script needed)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from chatusers.models import ChatUser
from chatusers.timeline import PAGE_SIZE, parse_cursor, timeline


class ChatUserTimelineMixin:
    """Adds ``timeline`` (a ``TimelinePage``) to the change page of an existing chat user;
    its template extends the synced objects' change form with the block."""

    change_form_template = "admin/chatusers/chatuser/change_form.html"
    timeline_page_size = PAGE_SIZE

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ChatUser | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk:
            before = parse_cursor(request.GET.get("timeline_before"))
            context = {
                **context,
                "timeline": timeline(obj, before, self.timeline_page_size),
                "timeline_before": before,
            }
        return super().render_change_form(  # type: ignore[misc]
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
