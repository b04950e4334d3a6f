"""Gave the roles their permissions on the CSV import's models; the roles are the accounts
app's now (``backoffice/accounts/migrations/0002_roles.py``). Kept, empty, under its name:
databases have recorded it as applied, and the migrations after it depend on it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0002_roles"),
        ("chatusers", "0002_imports"),
    ]

    operations = []
