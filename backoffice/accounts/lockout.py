"""What a locked-out login sees (``AXES_LOCKOUT_CALLABLE``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def lockout_response(request: HttpRequest, *_: Any) -> HttpResponse:
    """The admin's login page, without the form, saying why and for how long.

    django-axes passes the original response and the credentials in its sync path but not
    in its async one; neither is needed here, so both are accepted and ignored.
    """
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
        # On one machine the developer is also the operator who lifts lockouts.
        "embedded": not settings.PRODUCTION,
    }
    response = TemplateResponse(request, "accounts/lockout.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response.render()
