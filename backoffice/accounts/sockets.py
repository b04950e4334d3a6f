"""The second factor on WebSockets: the HTTP pages check it in a middleware, which Channels
does not run, so a socket checks it here before any consumer sees the user."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device


class SecondFactorSocketMiddleware(BaseMiddleware):
    """With ``TWO_FACTOR_REQUIRED``, a socket of a user logged in without a confirmed second
    factor of their own is anonymous, so every consumer refuses it as it refuses a stranger.
    Goes inside ``AuthMiddlewareStack``, which gives the scope its session and user."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if settings.TWO_FACTOR_REQUIRED:
            user = scope.get("user")
            if user is not None and await _lacks_second_factor(user, scope.get("session")):
                scope = {**scope, "user": AnonymousUser()}
        return await super().__call__(scope, receive, send)


@database_sync_to_async
def _lacks_second_factor(user: Any, session: Any) -> bool:
    if not user.is_authenticated:
        return False
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is None or device.user_id != user.pk or not device.confirmed
