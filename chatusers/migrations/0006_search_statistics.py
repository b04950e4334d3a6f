"""A larger statistics sample for the search index's expression, so that the planner's
estimate of how many chat users a search matches does not fall to its floor.

PostgreSQL estimates ``UPPER(search_text) LIKE '%rossi%'`` by testing the pattern against
the expression's histogram: with the default 101 bounds, a surname that one chat user in
26 has (38k of 1M) can match none of them, as it did after one of two loads of the admin
benchmark's million chat users. The estimate then falls to its floor of 0.01% (100 rows),
and the planner reads every match through the trigram index and sorts them (about
400 ms), where reading the list's newest rows and stopping at the hundredth match takes
2 ms. 301 bounds put such a surname in about 11 of them; the table's ANALYZE samples 90k
rows instead of 30k (about 3 s at 1M instead of 1 s).
"""

from django.db import migrations

STATISTICS = 300


def set_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER INDEX IF EXISTS chatuser_search_trgm ALTER COLUMN 1 SET STATISTICS {STATISTICS}"
    )


def reset_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER INDEX IF EXISTS chatuser_search_trgm ALTER COLUMN 1 SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [
        ("chatusers", "0005_chatuser_bot_channel_upper"),
    ]

    operations = [
        migrations.RunPython(set_statistics, reset_statistics),
    ]
