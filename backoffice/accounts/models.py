"""Sessions that know whose they are, so an operator can see and end their own.

Django's documented way of extending the database session engine: the session row gains
the user, the client's address and browser, and when it was last used. Django's own
expiry, key cycling and session auth hash check all stay as they are.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class UserSession(AbstractBaseSession):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    last_activity = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "session"
        indexes = [models.Index(fields=["user", "expire_date"], name="accounts_session_user_expiry")]
