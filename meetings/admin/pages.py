"""The meetings' own admin pages: schedule a meeting with a chat user, decline one, and settle
a booking whose answer was lost.

They hang off the meetings' admin (``get_urls``), so they sit in the admin's navigation and
permissions: sending is ``add_meeting`` (with seeing the chat user), settling is
``change_meeting``. Chat users link here by URL name, never by import.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from chatusers.models import ChatUser
from meetings import services
from meetings.admin.forms import DeclineForm, ScheduleForm
from meetings.models import Meeting
from meetings.services import MeetingRefused

LEVELS = {
    Meeting.State.SCHEDULED: messages.SUCCESS,
    Meeting.State.DECLINED: messages.SUCCESS,
    Meeting.State.UNKNOWN: messages.WARNING,
}


class MeetingPagesMixin:
    """``get_urls`` and the views of the schedule, decline and settle pages."""

    admin_site: Any
    model: type[Meeting]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "chatuser/<int:chatuser_id>/schedule/",
                view(self.schedule_view),
                name="meetings_meeting_schedule",
            ),
            path(
                "chatuser/<int:chatuser_id>/decline/",
                view(self.decline_view),
                name="meetings_meeting_decline",
            ),
            path(
                "<int:meeting_id>/settle/",
                view(require_POST(self.settle_view)),
                name="meetings_meeting_settle",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def schedule_view(self, request: HttpRequest, chatuser_id: int) -> HttpResponse:
        chatuser = self._chatuser_to_meet(request, chatuser_id)
        form = ScheduleForm(request.POST or None, initial=ScheduleForm.initial_for(chatuser))
        zone = timezone.get_current_timezone_name()
        for name in ("start", "end"):
            form.fields[name].help_text = f"In {zone}."
        if request.method == "POST" and form.is_valid():
            response = self._sent(
                request,
                form,
                lambda: services.meeting_schedule(
                    chatuser=chatuser, operator=request.user, **form.cleaned_data
                ),
            )
            if response is not None:
                return response
        return self._form_page(request, chatuser, form, f"Schedule a meeting with {chatuser}", "Schedule")

    def decline_view(self, request: HttpRequest, chatuser_id: int) -> HttpResponse:
        chatuser = self._chatuser_to_meet(request, chatuser_id)
        form = DeclineForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            response = self._sent(
                request,
                form,
                lambda: services.meeting_decline(
                    chatuser=chatuser, reason=form.cleaned_data["reason"], operator=request.user
                ),
            )
            if response is not None:
                return response
        return self._form_page(request, chatuser, form, f"{chatuser} declined a meeting", "Send the decline")

    def settle_view(self, request: HttpRequest, meeting_id: int) -> HttpResponse:
        if not request.user.has_perm("meetings.change_meeting"):
            raise PermissionDenied
        meeting = get_object_or_404(Meeting, pk=meeting_id)
        scheduled = request.POST.get("scheduled") == "1"
        try:
            services.meeting_settle(meeting=meeting, operator=request.user, scheduled=scheduled)
        except MeetingRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)  # type: ignore[attr-defined]
        else:
            verdict = "was scheduled" if scheduled else "was not scheduled"
            self.message_user(request, f"Settled: {meeting} {verdict}.", messages.SUCCESS)  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse("admin:meetings_meeting_changelist"))

    # --- helpers ---------------------------------------------------------------------------

    def _chatuser_to_meet(self, request: HttpRequest, chatuser_id: int) -> ChatUser:
        user = request.user
        if not (user.has_perm("meetings.add_meeting") and user.has_perm("chatusers.view_chatuser")):
            raise PermissionDenied
        return get_object_or_404(ChatUser.objects.select_related("bot"), pk=chatuser_id)

    def _sent(self, request: HttpRequest, form: Form, act: Any) -> HttpResponse | None:
        """Run the act; on a refusal or a failure, put the words on the form and return None
        (the form is shown again), else say what happened and go to the chat user's meetings."""
        try:
            meeting = act()
        except MeetingRefused as exc:
            form.add_error(None, str(exc))
            return None
        self.log_change(request, meeting, f"{meeting.get_kind_display()}: {meeting.get_state_display()}")  # type: ignore[attr-defined]
        if meeting.state == Meeting.State.FAILED:
            form.add_error(None, f"{meeting.get_state_display()}: {meeting.error}")
            return None
        text = f"{services.describe(meeting)}: {meeting.get_state_display().lower()}."
        if meeting.error:
            text = f"{text} {meeting.error}"
        self.message_user(request, text, LEVELS.get(meeting.state, messages.INFO))  # type: ignore[attr-defined]
        url = reverse("admin:meetings_meeting_changelist")
        return HttpResponseRedirect(f"{url}?chatuser__id__exact={meeting.chatuser_id}")

    def _form_page(
        self, request: HttpRequest, chatuser: ChatUser, form: Form, title: str, submit: str
    ) -> HttpResponse:
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "chatuser": chatuser,
            "chatuser_url": reverse("admin:chatusers_chatuser_change", args=[chatuser.pk]),
            "form": form,
            "submit": submit,
        }
        return TemplateResponse(request, "admin/meetings/meeting/act_form.html", context)
