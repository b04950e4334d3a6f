"""The admin site: Django's, with a second factor at login and the operator's account pages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path

from backoffice.accounts import services, views
from backoffice.accounts.forms import LoginForm


class BackofficeAdminSite(admin.AdminSite):
    login_form = LoginForm
    login_template = "accounts/login.html"

    def get_urls(self) -> list[URLPattern | URLResolver]:
        account = [
            path("account/two-factor/", self.admin_view(views.two_factor), name="account_two_factor"),
            path("account/sessions/", self.admin_view(views.sessions), name="account_sessions"),
            path("account/userbot-key/", self.admin_view(views.userbot_key), name="account_userbot_key"),
        ]
        return account + super().get_urls()

    def password_change(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Django's password change, which then ends the operator's other sessions.

        Django would refuse them anyway at their next request (their auth hash is of the old
        password); ending them here also takes them off the sessions page at once.
        """
        response = super().password_change(request, extra_context)
        if request.method == "POST" and response.status_code == 302:
            services.sessions_end(user=request.user, keep_session_key=request.session.session_key)
        return response
