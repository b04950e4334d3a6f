"""Gave the roles their permissions on the sync engine's models; the roles are the accounts
app's now (``backoffice/accounts/migrations/0002_roles.py``). Kept, empty, under its name:
databases have recorded it as applied, and the accounts' roles migration depends on it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0003_roles_cover_imports"),
        ("sync", "0003_bot_sync_and_conflicts"),
    ]

    operations = []
