from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


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
