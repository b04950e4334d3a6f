"""Logging in through the admin's real login form, and the codes of an authenticator app."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

LOGIN = "/admin/login/"
PASSWORD = "a-long-test-password"


def operator(username: str = "ada", **extra: Any) -> Any:
    return get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True, **extra)


def post_login(
    client: Client, username: str, password: str, *, code: str = "", address: str = "127.0.0.1"
) -> Any:
    """One submission of the admin's login form, from ``address``."""
    return client.post(
        f"{LOGIN}?next=/admin/",
        {"username": username, "password": password, "otp_token": code, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the operator's app shows now (or ``steps_ahead`` 30-second steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def confirmed_device(user: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
