"""An index for a segment's "channel equals": the segment count compares
UPPER(channel::text) = UPPER(%s) within one bot (chatusers.selectors._text_equals, as
Django writes iexact on PostgreSQL), which no index served: a scan of every chat user,
about 0.4 s at 1M. On (bot, UPPER(channel)), including the channel itself so that the
count is an index-only scan (PostgreSQL reads an expression's columns from the index
only if they are in it), it is about 30 ms.

PostgreSQL only, built CONCURRENTLY so that writes go on while it builds; SQLite runs
iexact as LIKE, which an expression index would not serve.
"""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS chatuser_bot_channel_upper ON chatusers_chatuser "
        "(bot_id, (UPPER(channel::text))) INCLUDE (channel)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS chatuser_bot_channel_upper")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("chatusers", "0004_importjob_created_tags"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
