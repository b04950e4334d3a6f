"""The session engine (``SESSION_ENGINE = "backoffice.accounts.sessions"``).

Django's database store, writing the user, the client and the time of each save into the
session's row. ``SessionActivityMiddleware`` tells the store who the client is, and saves
the session again once its row is ``SESSION_TOUCH_S`` old, which moves its expiry (the
idle timeout) and ``last_activity`` on. That is Django's ``SESSION_SAVE_EVERY_REQUEST``
to within a minute, without a write on every request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
    # When the row read for this request was last saved; None before it is read, or if
    # there is none.
    saved_at: datetime | None = None

    @classmethod
    def get_model_class(cls) -> type[UserSession]:
        return UserSession

    def set_client(self, *, ip_address: str | None, user_agent: str) -> None:
        """Who is on the other end of this request, written into the row at the next save."""
        self.ip_address = ip_address
        self.user_agent = user_agent[:USER_AGENT_MAX]

    def _get_session_from_db(self) -> UserSession | None:
        session = super()._get_session_from_db()
        self.saved_at = session.last_activity if session is not None else None
        return session

    async def _aget_session_from_db(self) -> UserSession | None:
        session = await super()._aget_session_from_db()
        self.saved_at = session.last_activity if session is not None else None
        return session

    def is_stale(self, *, older_than: timedelta) -> bool:
        """Whether this session holds data and its row was last saved ``older_than`` ago
        (or does not say when): saving it now moves its idle expiry on."""
        if self.is_empty() or not self.session_key:
            return False
        return self.saved_at is None or timezone.now() - self.saved_at >= older_than

    def create_model_instance(self, data: dict[str, Any]) -> UserSession:
        session = super().create_model_instance(data)
        session.user_id = _user_id(data.get(SESSION_KEY))
        session.ip_address = self.ip_address
        session.user_agent = self.user_agent
        session.last_activity = self.saved_at = timezone.now()
        return session


def _user_id(raw: object) -> Any:
    if raw is None:
        return None
    try:
        return get_user_model()._meta.pk.to_python(raw)
    except ValidationError:
        return None
