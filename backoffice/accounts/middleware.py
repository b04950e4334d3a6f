"""Middleware of the operator's door."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from backoffice.accounts.client import client_ip, client_user_agent

# What an operator who still has to set up a second factor may open.
_OPEN_BEFORE_SECOND_FACTOR = ("admin:account_two_factor", "admin:logout", "admin:jsi18n")


class SessionActivityMiddleware:
    """Tells the session store the address and browser of each request, and saves a session
    that has not been saved for ``SESSION_TOUCH_S`` seconds, so an operator at work stays
    logged in and an idle one is logged out ``SESSION_COOKIE_AGE`` after their last request.

    Django's ``SESSION_SAVE_EVERY_REQUEST`` would write the session row on every request;
    once a minute gives the same idle timeout, to within the minute, for a write a minute.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        set_client = getattr(session, "set_client", None)
        if set_client is not None:
            set_client(ip_address=client_ip(request), user_agent=client_user_agent(request))
        response = self.get_response(request)
        is_stale = getattr(session, "is_stale", None)
        # The session read for this request (by the login check, which every admin page
        # makes), not a new one: an anonymous visitor gets no row.
        if (
            is_stale is not None
            and session.accessed
            and is_stale(older_than=timedelta(seconds=settings.SESSION_TOUCH_S))
        ):
            session.modified = True
        return response


class SecondFactorRequiredMiddleware:
    """With ``TWO_FACTOR_REQUIRED``, a staff user logged in without a second factor can only
    set one up (or log out): every other page sends them to the two-factor page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            settings.TWO_FACTOR_REQUIRED
            and user.is_authenticated
            and user.is_staff
            and not user.is_verified()
            and request.path not in {reverse(name) for name in _OPEN_BEFORE_SECOND_FACTOR}
        ):
            target = reverse("admin:account_two_factor")
            return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
