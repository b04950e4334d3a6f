from __future__ import annotations

from axes import apps as axes_apps
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django_otp.plugins.otp_static import apps as otp_static_apps
from django_otp.plugins.otp_totp import apps as otp_totp_apps


class AccountsConfig(AppConfig):
    name = "backoffice.accounts"
    label = "accounts"
    verbose_name = "Accounts"
    default = True
    default_auto_field = "django.db.models.BigAutoField"


class BackofficeAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with the site that asks for a second factor and shows an operator's sessions."""

    default = False
    default_site = "backoffice.accounts.admin_site.BackofficeAdminSite"


# The libraries' apps under names an operator reads in the admin's index.
class LoginThrottlingConfig(axes_apps.AppConfig):
    default = False
    verbose_name = "Login throttling"


class AuthenticatorAppsConfig(otp_totp_apps.DefaultConfig):
    default = False
    verbose_name = "Two-factor: authenticator apps"


class RecoveryCodesConfig(otp_static_apps.DefaultConfig):
    default = False
    verbose_name = "Two-factor: recovery codes"
