"""Give the roles their permissions on the CSV import's models.

The roles migration grants from the models that exist when it runs; the import's models
came later, so the same grants are computed again now that they exist (operators import,
viewers see the history). Running it again ends in the same state.
"""

import importlib

from django.db import migrations

roles = importlib.import_module("automation.migrations.0002_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0002_roles"),
        ("chatusers", "0002_imports"),
    ]

    operations = [migrations.RunPython(roles.create_roles, migrations.RunPython.noop)]
