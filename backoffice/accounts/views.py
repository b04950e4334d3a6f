"""The operator's own account pages in the admin: two-factor authentication, sessions and
their own Userbot key."""

from __future__ import annotations

from base64 import b32encode
from io import BytesIO
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice import audit
from backoffice.accounts import selectors, services
from backoffice.accounts.forms import CodeForm, OperatorKeyForm, count_as_failed_login


def _render(request: HttpRequest, template: str, title: str, context: dict[str, Any]) -> TemplateResponse:
    request.current_app = admin.site.name
    return TemplateResponse(
        request, template, {**admin.site.each_context(request), "title": title, **context}
    )


def _account(request: HttpRequest) -> AbstractBaseUser:
    """The operator's own user record, for its history (``request.user`` is a lazy wrapper)."""
    return get_user_model()._default_manager.get(pk=request.user.pk)


def _next_url(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def qr_svg(device: TOTPDevice) -> SafeString:
    """The device's ``otpauth://`` URL as an inline SVG QR code, drawn here: the secret never
    leaves the page for an image service, and the page needs no script."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    out = BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    # Generated from our own data only (the account name is escaped in the URL's query).
    return mark_safe(svg[svg.index("<svg") :])  # noqa: S308


def _grouped_secret(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up, review, renew the recovery codes of, or turn off the operator's second factor."""
    device = selectors.confirmed_totp_device(user=request.user)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "confirm":
        return _confirm(request, replacing=device)
    if device is not None and action in {"recovery", "disable"}:
        return _with_code(request, device, action)
    if device is None or request.GET.get("replace") == "1":
        return _setup_page(request, services.totp_device_start(user=request.user), CodeForm())
    return _status_page(request, device, CodeForm(), CodeForm())


def _confirm(request: HttpRequest, *, replacing: TOTPDevice | None) -> HttpResponse:
    pending = services.totp_device_start(user=request.user)
    form = CodeForm(request.POST)
    if replacing is not None and not _current_code_matches(request):
        # Replacing the authenticator asks for the one it replaces, so a session left open
        # cannot be given a second factor of someone else's.
        form.is_valid()
        form.add_error(None, "Enter a code from your current authenticator app, or a recovery code.")
    elif form.is_valid():
        codes = services.totp_device_confirm(device=pending, code=form.cleaned_data["code"])
        if codes is not None:
            return _two_factor_turned_on(request, pending, codes)
        form.add_error(
            "code",
            "That code is not right. Check the time on your phone, and enter the code the app shows now.",
        )
    return _setup_page(request, pending, form)


def _with_code(request: HttpRequest, device: TOTPDevice, action: str) -> HttpResponse:
    """New recovery codes, or two-factor turned off: each asks for a current code first."""
    user = request.user
    form = CodeForm(request.POST)
    if not form.is_valid() or match_token(user, services.normalised_code(form.cleaned_data["code"])) is None:
        if form.is_valid():
            count_as_failed_login(request, user)
            form.add_error("code", "That code is not right.")
        other = CodeForm()
        return _status_page(request, device, *((form, other) if action == "recovery" else (other, form)))
    if action == "recovery":
        codes = services.recovery_codes_replace(user=user)
        audit.record(
            actor=user, obj=_account(request), action="change", message="New two-factor recovery codes"
        )
        return _render(
            request,
            "accounts/recovery_codes.html",
            "Your new recovery codes",
            {"codes": codes, "next_url": None},
        )
    if settings.TWO_FACTOR_REQUIRED:
        messages.error(request, "Two-factor authentication is required here: it cannot be turned off.")
    else:
        services.two_factor_disable(user=user)
        audit.record(
            actor=user, obj=_account(request), action="change", message="Two-factor authentication turned off"
        )
        messages.success(request, "Two-factor authentication is off: your login asks for a password only.")
    return HttpResponseRedirect(reverse("admin:account_two_factor"))


def _current_code_matches(request: HttpRequest) -> bool:
    code = services.normalised_code(request.POST.get("current_code", ""))
    if not code:
        return False
    if match_token(request.user, code) is None:
        count_as_failed_login(request, request.user)
        return False
    return True


def _setup_page(request: HttpRequest, device: TOTPDevice, form: CodeForm) -> TemplateResponse:
    return _render(
        request,
        "accounts/two_factor_setup.html",
        "Set up two-factor authentication",
        {
            "qr_svg": qr_svg(device),
            "secret": _grouped_secret(device),
            "form": form,
            "required": settings.TWO_FACTOR_REQUIRED,
            "replacing": selectors.has_two_factor(request.user),
            "next_url": _next_url(request),
        },
    )


def _status_page(
    request: HttpRequest, device: TOTPDevice, recovery_form: CodeForm, disable_form: CodeForm
) -> TemplateResponse:
    return _render(
        request,
        "accounts/two_factor.html",
        "Two-factor authentication",
        {
            "device": device,
            "codes_left": selectors.recovery_codes_left(user=request.user),
            "recovery_form": recovery_form,
            "disable_form": disable_form,
            "required": settings.TWO_FACTOR_REQUIRED,
        },
    )


def _two_factor_turned_on(request: HttpRequest, device: TOTPDevice, codes: list[str]) -> TemplateResponse:
    """The session that proved the code is verified; every other session of the operator,
    logged in with a password alone, ends."""
    user = request.user
    otp_login(request, device)
    ended = services.sessions_end(user=user, keep_session_key=request.session.session_key)
    audit.record(
        actor=user, obj=_account(request), action="change", message="Two-factor authentication turned on"
    )
    note = f" Your {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
    messages.success(request, f"Two-factor authentication is on: your login now asks for a code.{note}")
    return _render(
        request,
        "accounts/recovery_codes.html",
        "Your recovery codes",
        {"codes": codes, "next_url": _next_url(request) or reverse("admin:index")},
    )


@never_cache
def sessions(request: HttpRequest) -> HttpResponse:
    """The operator's sessions that still log them in, and a way to end the others."""
    user = request.user
    current = request.session.session_key
    if request.method == "POST":
        if request.POST.get("action") == "end_others":
            ended = services.sessions_end(user=user, keep_session_key=current)
            messages.success(request, f"Ended {ended} other session{'s' if ended != 1 else ''}.")
        else:
            key = request.POST.get("session_key", "")
            if key and key != current and services.sessions_end_one(user=user, session_key=key):
                messages.success(request, "The session has ended: that browser must log in again.")
            else:
                messages.warning(request, "That session had already ended.")
        return HttpResponseRedirect(reverse("admin:account_sessions"))
    active = selectors.active_sessions(user=user, current_session_key=current)
    return _render(
        request,
        "accounts/sessions.html",
        "Your sessions",
        {
            "active_sessions": active,
            "others": sum(1 for session in active if not session.current),
            "idle_hours": settings.SESSION_COOKIE_AGE / 3600,
            "expire_at_browser_close": settings.SESSION_EXPIRE_AT_BROWSER_CLOSE,
        },
    )


KEY_SAVED = (
    "Your Userbot key was saved; chats you take over and replies you send will be made as your own "
    "Userbot user."
)


@sensitive_post_parameters("apikey")
@never_cache
@require_http_methods(["GET", "POST"])
def userbot_key(request: HttpRequest) -> HttpResponse:
    """Set, replace or remove the operator's own Userbot API key; the page only ever says
    whether one is set, and since when."""
    form = OperatorKeyForm()
    if request.method == "POST":
        if request.POST.get("action") == "remove":
            if services.operator_key_remove(user=_account(request)):
                messages.success(request, "Your Userbot key was removed.")
            else:
                messages.info(request, "You had no Userbot key.")
            return HttpResponseRedirect(reverse("admin:account_userbot_key"))
        form = OperatorKeyForm(request.POST)
        if form.is_valid():
            services.operator_key_set(user=_account(request), apikey=form.cleaned_data["apikey"])
            messages.success(request, KEY_SAVED)
            return HttpResponseRedirect(reverse("admin:account_userbot_key"))
    return _render(
        request,
        "accounts/userbot_key.html",
        "Your Userbot key",
        {"form": form, "set_at": selectors.operator_key_set_at(user=request.user)},
    )
