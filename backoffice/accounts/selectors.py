"""Reads of the accounts app: an operator's sessions, second factors and Userbot key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.accounts.models import OperatorKey, UserSession
from backoffice.accounts.sessions import SessionStore


@dataclass(frozen=True)
class ActiveSession:
    session_key: str
    last_activity: datetime | None
    expire_date: datetime
    ip_address: str | None
    user_agent: str
    current: bool


def active_sessions(*, user: AbstractBaseUser, current_session_key: str | None) -> list[ActiveSession]:
    """The sessions that still log ``user`` in, most recently used first.

    A session made before the user's last password change is left out: Django refuses it
    (its auth hash is of the old password), whatever its row still says.
    """
    auth_hash = user.get_session_auth_hash()
    store = SessionStore()
    rows = UserSession.objects.filter(user=user, expire_date__gt=timezone.now()).order_by(
        "-last_activity", "-expire_date"
    )
    return [
        ActiveSession(
            session_key=row.session_key,
            last_activity=row.last_activity,
            expire_date=row.expire_date,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            current=row.session_key == current_session_key,
        )
        for row in rows
        if store.decode(row.session_data).get(HASH_SESSION_KEY) == auth_hash
    ]


def confirmed_totp_device(*, user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(*, user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def has_two_factor(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def operator_apikey(*, user: AbstractBaseUser) -> str | None:
    """The operator's own Userbot API key in clear, for the moment of connecting as them;
    None when they have not set one.

    Raises ``SecretUnreadable`` when the stored key does not open with the configured
    encryption keys: acting as the bot instead would hide that from the operator.
    """
    key = OperatorKey.objects.filter(user=user).first()
    return None if key is None else key.reveal_apikey()


def operator_key_set_at(*, user: AbstractBaseUser) -> datetime | None:
    """When the operator's own Userbot key was set, None without one; the key is not read."""
    return OperatorKey.objects.filter(user=user).values_list("set_at", flat=True).first()
