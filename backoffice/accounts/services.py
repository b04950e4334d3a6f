"""Writes of the accounts app: two-factor devices, recovery codes, sessions and the
operator's own Userbot key."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice import audit
from backoffice.accounts.models import OperatorKey, UserSession, validate_apikey

TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10


def normalised_code(code: str) -> str:
    """A code as typed (``123 456``, ``ABCD EFGH``) in the form the devices store it."""
    return "".join(code.split()).lower()


@transaction.atomic
def totp_device_start(*, user: AbstractBaseUser) -> TOTPDevice:
    """The user's unconfirmed authenticator, made with a new secret if there is none yet.

    It stays unconfirmed, so it is never asked for at login, until the user proves with a
    code that their app holds the secret (``totp_device_confirm``).
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def totp_device_confirm(*, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm ``device`` with a code from the app; returns new recovery codes, or None if
    the code is wrong.

    Any authenticator the user had before is replaced: one app, one secret.
    """
    if not device.verify_token(normalised_code(code)):
        return None
    TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return recovery_codes_replace(user=device.user)


@transaction.atomic
def recovery_codes_replace(*, user: AbstractBaseUser) -> list[str]:
    """Ten new single-use recovery codes for ``user``; the codes they had stop working."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def two_factor_disable(*, user: AbstractBaseUser) -> None:
    """Remove the user's authenticator and recovery codes: their login asks for a password only."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def sessions_end(*, user: AbstractBaseUser, keep_session_key: str | None = None) -> int:
    """End every session of ``user`` but the one named; returns how many ended."""
    sessions = UserSession.objects.filter(user=user)
    if keep_session_key:
        sessions = sessions.exclude(session_key=keep_session_key)
    deleted, _ = sessions.delete()
    return deleted


def sessions_end_one(*, user: AbstractBaseUser, session_key: str) -> bool:
    """End one session of ``user``; False when it is not theirs or already over."""
    deleted, _ = UserSession.objects.filter(user=user, session_key=session_key).delete()
    return deleted > 0


def sessions_clear_expired() -> int:
    """Delete every session past its expiry: the idle timeout leaves rows nobody will use."""
    deleted, _ = UserSession.objects.filter(expire_date__lte=timezone.now()).delete()
    return deleted


@sensitive_variables("apikey")
@transaction.atomic
def operator_key_set(*, user: AbstractBaseUser, apikey: str) -> OperatorKey:
    """Keep ``apikey``, encrypted, as the operator's own Userbot key, replacing any they had:
    their takeovers and replies are then made as the Userbot user it logs in as.

    Raises ``ValidationError`` (which never quotes the key) for a key that is not one word.
    ``user`` is the user record itself, not ``request.user``'s lazy wrapper: the change is
    recorded in its history.
    """
    validate_apikey(apikey)
    key = OperatorKey.objects.select_for_update().filter(user=user).first()
    replacing = key is not None
    if key is None:
        key = OperatorKey(user=user)
    key.set_apikey(apikey)
    key.set_at = timezone.now()
    key.full_clean()
    if replacing:
        key.save(update_fields=["apikey_ciphertext", "set_at"])
    else:
        key.save()
    audit.record(
        actor=user,
        obj=user,
        action="change",
        message="Userbot key replaced" if replacing else "Userbot key set",
    )
    return key


@transaction.atomic
def operator_key_remove(*, user: AbstractBaseUser) -> bool:
    """Forget the operator's own Userbot key; False when they had none. ``user`` is the user
    record itself, as for ``operator_key_set``."""
    deleted, _ = OperatorKey.objects.filter(user=user).delete()
    if deleted:
        audit.record(actor=user, obj=user, action="change", message="Userbot key removed")
    return deleted > 0
