"""The admin's login form with the second factor on the same page, the code forms, and the
form of the operator's own Userbot key."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from django_otp import match_token

from backoffice.accounts.models import APIKEY_MAX_LENGTH, validate_apikey
from backoffice.accounts.selectors import has_two_factor
from backoffice.accounts.services import normalised_code


def _code_field(**kwargs: Any) -> forms.CharField:
    return forms.CharField(
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
        **kwargs,
    )


def count_as_failed_login(request: HttpRequest | None, user: AbstractBaseUser) -> None:
    """Tell the login throttle that a second factor was wrong, as a wrong password would.

    The throttle (django-axes) counts ``user_login_failed``; without this, a stolen
    password would give an attacker unlimited tries at the six digits.
    """
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)


class LoginForm(AdminAuthenticationForm):
    """User name, password, and the code of an operator who has two-factor authentication.

    The code field is on the login page itself, for everyone: the page never tells a
    stranger which accounts have a second factor, and the admin keeps its own login view.
    """

    otp_token = _code_field(
        required=False,
        label="Two-factor code",
        help_text="From your authenticator app, or one of your recovery codes. "
        "Leave it empty if you have not set up two-factor authentication.",
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "code_required": "Enter the code from your authenticator app, or a recovery code.",
        "code_invalid": "That two-factor code is not right. Codes change every 30 seconds; "
        "each one, and each recovery code, works once.",
    }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        # Recovery codes stand in for the authenticator app, not on their own: with the app's
        # device deleted (a lost phone, by a superuser) the password alone logs in again.
        if user is None or not has_two_factor(user):
            return cleaned
        code = normalised_code(cleaned.get("otp_token") or "")
        if not code:
            raise forms.ValidationError(self.error_messages["code_required"], code="code_required")
        device = match_token(user, code)
        if device is None:
            count_as_failed_login(self.request, user)
            raise forms.ValidationError(self.error_messages["code_invalid"], code="code_invalid")
        # django-otp marks the session verified with this device when Django logs the user in.
        user.otp_device = device
        return cleaned


class CodeForm(forms.Form):
    code = _code_field(label="Code from your authenticator app")


class OperatorKeyForm(forms.Form):
    """The operator's own Userbot API key, typed in and never rendered back.

    The length is checked by ``validate_apikey`` rather than ``max_length``: Django's
    length validator carries the value in its error's params, where a report could show it.
    """

    apikey = forms.CharField(
        label="Your Userbot API key",
        strip=True,
        validators=[validate_apikey],
        widget=forms.PasswordInput(
            render_value=False,
            attrs={
                "autocomplete": "new-password",
                "autocapitalize": "none",
                "spellcheck": "false",
                "maxlength": str(APIKEY_MAX_LENGTH),
            },
        ),
        help_text="Stored encrypted and never shown again.",
    )
