from __future__ import annotations

from django.apps import AppConfig

from backoffice.accounts.apps import BackofficeAdminConfig


class AdminSiteConfig(AppConfig):
    """Listed before the other apps, so its templates extend theirs and Django's."""

    name = "backoffice.admin_site"
    label = "admin_site"
    verbose_name = "Back office"
    default = True
    default_auto_field = "django.db.models.BigAutoField"


class OperatorAdminConfig(BackofficeAdminConfig):
    """Django's admin with the operator's site: the account pages of backoffice.accounts,
    plus the product's name, groups and dashboard."""

    default = False
    default_site = "backoffice.admin_site.site.OperatorAdminSite"
