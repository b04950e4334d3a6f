"""The roles again, now that the insights' models exist: operators and viewers may read a
bot's numbers (``0002_roles`` says how roles are made)."""

from importlib import import_module

from django.db import migrations

roles = import_module("backoffice.accounts.migrations.0002_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_roles_live_chat"),
        ("insights", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles.create_roles, migrations.RunPython.noop)]
