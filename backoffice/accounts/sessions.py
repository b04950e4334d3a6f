"""The session engine (``SESSION_ENGINE = "backoffice.accounts.sessions"``).

Django's database store, writing the user, the client and the time of each save into the
session's row. ``SessionClientMiddleware`` tells the store who the client is; with
``SESSION_SAVE_EVERY_REQUEST`` every request saves, so ``last_activity`` and the expiry
follow the operator's last request (the idle timeout).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import ValidationError
from django.utils import timezone

from backoffice.accounts.models import UserSession

USER_AGENT_MAX = UserSession._meta.get_field("user_agent").max_length or 300


class SessionStore(DatabaseSessionStore):
    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def get_model_class(cls) -> type[UserSession]:
        return UserSession

    def set_client(self, *, ip_address: str | None, user_agent: str) -> None:
        """Who is on the other end of this request, written into the row at the next save."""
        self.ip_address = ip_address
        self.user_agent = user_agent[:USER_AGENT_MAX]

    def create_model_instance(self, data: dict[str, Any]) -> UserSession:
        session = super().create_model_instance(data)
        session.user_id = _user_id(data.get(SESSION_KEY))
        session.ip_address = self.ip_address
        session.user_agent = self.user_agent
        session.last_activity = timezone.now()
        return session


def _user_id(raw: object) -> Any:
    if raw is None:
        return None
    try:
        return get_user_model()._meta.pk.to_python(raw)
    except ValidationError:
        return None
