"""A Userbot bot the back office mirrors, and how to reach it."""

from __future__ import annotations

from django.core.validators import RegexValidator, URLValidator
from django.db import models

from backoffice.userbot import crypto

sitekey_validator = RegexValidator(r"^[^\s]+$", "A sitekey is one word without spaces.")


class Bot(models.Model):
    """One Userbot bot (sitekey) on one server, with the API key that opens it.

    The key is kept encrypted and is never shown back: read it only through
    ``reveal_apikey`` at the moment of connecting.
    """

    name = models.CharField(max_length=200)
    sitekey = models.CharField(max_length=128, unique=True, validators=[sitekey_validator])
    server_url = models.CharField(
        "server URL",
        max_length=500,
        validators=[URLValidator(schemes=["ws", "wss"])],
        help_text="The WebSocket address of the Userbot server, e.g. wss://ai.userbot.ai/",
    )
    apikey_ciphertext = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sitekey})"

    def __repr__(self) -> str:
        return f"<Bot {self.pk} {self.sitekey!r}>"

    @property
    def has_apikey(self) -> bool:
        return bool(self.apikey_ciphertext)

    def set_apikey(self, apikey: str) -> None:
        self.apikey_ciphertext = crypto.encrypt(apikey)

    def reveal_apikey(self) -> str:
        return crypto.decrypt(self.apikey_ciphertext)
