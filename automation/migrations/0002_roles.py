"""Made the back office's roles; they are the accounts app's now
(``backoffice/accounts/migrations/0002_roles.py``), which makes them on a new database and,
on one that ran this, recomputes the same grants. Kept, empty, under its name: databases
have recorded it as applied, and the migrations after it depend on it.
"""

import importlib

from django.db import migrations

# The roles' code, under the name tests/test_roles.py imports it by, until it imports the
# accounts migration itself.
create_roles = importlib.import_module("backoffice.accounts.migrations.0002_roles").create_roles


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("userbot", "0001_initial"),
        ("sync", "0001_initial"),
        ("chatusers", "0001_initial"),
        ("knowledge", "0001_initial"),
        ("automation", "0001_initial"),
    ]

    operations = []
