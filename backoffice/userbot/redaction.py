"""Keeping Userbot API keys out of every message, log line and stored error.

A server may echo what it was sent: a refused key in its error message, a frame quoted
back. The protocol client masks its own key in everything it builds from a server's
answer before that leaves the client, so whatever the sync engine stores or the admin
shows is already clean. ``SecretsFilter`` is the second line of defence, on the log
handlers: it masks the key of every client alive in the process, and the key of any
``apiLogin`` frame, in whatever a record says.
"""

from __future__ import annotations

import logging
import re
import traceback
import weakref
from typing import Any

MASK = "[apikey]"
# The key of an apiLogin frame, up to a quote or backslash when the frame is quoted in JSON or a repr.
_LOGIN_FRAME = re.compile(r"(apiLogin\s+)[^\s\"'\\]+")


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback's locals."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of this secret replaced by the mask."""
        value = self._value
        return text.replace(value, MASK) if value and value in text else text

    def mask_all(self, value: Any) -> Any:
        """``value`` with the secret masked in every string it holds, dictionary keys included."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask_all(k): self.mask_all(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.mask_all(item) for item in value)
        return value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a secret cannot be pickled")


# The keys of the clients alive in this process, for the log filter. Weak, so a key is
# forgotten with the last client that held it.
_KNOWN: weakref.WeakSet[Secret] = weakref.WeakSet()


def remember(secret: Secret) -> None:
    """Have the log filter mask ``secret`` for as long as it lives."""
    _KNOWN.add(secret)


def mask_known(text: str) -> str:
    """``text`` with the key of every live client and of any apiLogin frame masked."""
    for secret in list(_KNOWN):
        text = secret.mask(text)
    if "apiLogin" in text:
        text = _LOGIN_FRAME.sub(rf"\1{MASK}", text)
    return text


class SecretsFilter(logging.Filter):
    """Masks API keys in a record's message, exception and stack before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it as it would without us
            return True
        masked = mask_known(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = mask_known(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_known(record.stack_info)
        return True
