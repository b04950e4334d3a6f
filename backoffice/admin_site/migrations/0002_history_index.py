"""An index on the admin's history (``django_admin_log``) by object, newest first.

Every write path records into it (backoffice/audit.py), so it grows with every chat user;
the chat user's timeline and History page read one object's entries, which without this
scan the whole table (about 60 ms at a million chat users). The table is Django's, so the
index is made here in SQL that PostgreSQL and SQLite both take.
"""

from django.db import migrations

INDEX = "admin_log_object_time"


class Migration(migrations.Migration):
    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("admin_site", "0001_saved_views"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON django_admin_log (content_type_id, object_id, action_time)",
            f"DROP INDEX IF EXISTS {INDEX}",
        )
    ]
