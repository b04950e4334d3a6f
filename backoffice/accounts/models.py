"""The operator's account: sessions that know whose they are, and their own Userbot key.

``UserSession`` is Django's documented way of extending the database session engine: the
session row gains the user, the client's address and browser, and when it was last used.
Django's own expiry, key cycling and session auth hash check all stay as they are.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import ValidationError
from django.db import models

from backoffice.userbot import crypto


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


APIKEY_MAX_LENGTH = 500


def validate_apikey(apikey: str) -> None:
    """A Userbot API key is one word (it travels as ``apiLogin <apikey>``) of bounded length.

    The refusal never carries the key, not even in its params, so no message, log line or
    report made from it can show the key.
    """
    if not apikey or len(apikey) > APIKEY_MAX_LENGTH or any(char.isspace() for char in apikey):
        raise ValidationError(
            f"A Userbot API key is one word without spaces, of at most {APIKEY_MAX_LENGTH} characters.",
            code="invalid_apikey",
        )


class OperatorKey(models.Model):
    """An operator's own Userbot API key: the chats they take over and the replies they send
    are made as the Userbot user it logs in as, not as the bot's.

    Kept encrypted like a bot's key, and never shown back: read it only through
    ``reveal_apikey`` at the moment of connecting.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="userbot_key"
    )
    apikey_ciphertext = models.TextField(editable=False)
    set_at = models.DateTimeField()

    class Meta:
        verbose_name = "operator's Userbot key"

    def __str__(self) -> str:
        return f"Userbot key of user {self.user_id}"

    def __repr__(self) -> str:
        return f"<OperatorKey of user {self.user_id}>"

    def set_apikey(self, apikey: str) -> None:
        self.apikey_ciphertext = crypto.encrypt(apikey)

    def reveal_apikey(self) -> str:
        return crypto.decrypt(self.apikey_ciphertext)
