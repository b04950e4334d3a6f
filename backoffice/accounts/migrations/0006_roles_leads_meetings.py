"""The roles again, now that the leads' and the meetings' models exist: operators change
leads' tags and schedule, decline and settle meetings; viewers read both (``0002_roles``
says how roles are made)."""

from importlib import import_module

from django.db import migrations

roles = import_module("backoffice.accounts.migrations.0002_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_roles_insights"),
        ("leads", "0001_initial"),
        ("meetings", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles.create_roles, migrations.RunPython.noop)]
