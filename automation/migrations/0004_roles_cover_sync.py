"""Give the roles their permissions on the sync engine's models (bot sync settings and
conflicts came after the roles migration): operators run the sync, viewers see it.
Running it again ends in the same state."""

import importlib

from django.db import migrations

roles = importlib.import_module("automation.migrations.0002_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0003_roles_cover_imports"),
        ("sync", "0003_bot_sync_and_conflicts"),
    ]

    operations = [migrations.RunPython(roles.create_roles, migrations.RunPython.noop)]
