"""The roles again, now that live chat's models exist: operators and chat agents may take
over and answer chats, viewers may read them (``0002_roles`` says how roles are made)."""

from importlib import import_module

from django.db import migrations

roles = import_module("backoffice.accounts.migrations.0002_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_operator_key"),
        ("livechat", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles.create_roles, migrations.RunPython.noop)]
