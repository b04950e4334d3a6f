"""Chat users' sync records move to a narrow table of their own (``ChatUserSync``)."""

import django.db.models.deletion
from django.db import migrations, models

RECORD = "remote_id, sync_state, synced_at, remote_updated_at, sync_error, synced_snapshot"

COPY_FORWARD = f"""
INSERT INTO chatusers_chatusersync (chatuser_id, bot_id, created_at, {RECORD})
SELECT id, bot_id, created_at, {RECORD} FROM chatusers_chatuser
"""  # noqa: S608 (constant column names)

COPY_BACK = """
UPDATE chatusers_chatuser SET
    remote_id = s.remote_id,
    sync_state = s.sync_state,
    synced_at = s.synced_at,
    remote_updated_at = s.remote_updated_at,
    sync_error = s.sync_error,
    synced_snapshot = s.synced_snapshot
FROM chatusers_chatusersync AS s
WHERE s.chatuser_id = chatusers_chatuser.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("chatusers", "0006_search_statistics"),
        ("userbot", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChatUserSync",
            fields=[
                (
                    "remote_id",
                    models.CharField(
                        blank=True, editable=False, max_length=64, null=True, verbose_name="Userbot id"
                    ),
                ),
                (
                    "sync_state",
                    models.CharField(
                        choices=[
                            ("synced", "Synced"),
                            ("pending", "Pending"),
                            ("error", "Error"),
                            ("conflict", "Conflict"),
                        ],
                        default="pending",
                        editable=False,
                        max_length=10,
                    ),
                ),
                (
                    "synced_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="last synced"),
                ),
                (
                    "remote_updated_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="The object's updated_at on Userbot when it was last synced.",
                        null=True,
                        verbose_name="Userbot updated_at",
                    ),
                ),
                ("sync_error", models.TextField(blank=True, editable=False, verbose_name="last sync error")),
                ("synced_snapshot", models.JSONField(blank=True, editable=False, null=True)),
                (
                    "chatuser",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="sync",
                        serialize=False,
                        to="chatusers.chatuser",
                        verbose_name="chat user",
                    ),
                ),
                ("created_at", models.DateTimeField(editable=False)),
            ],
            options={
                "verbose_name": "chat user's sync record",
                "default_permissions": (),
            },
        ),
        migrations.AddField(
            model_name="chatusersync",
            name="bot",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="userbot.bot",
            ),
        ),
        # Every chat user's record moves to its own row, and back when unapplied (after the
        # columns are added again). The SQL is the same on PostgreSQL and SQLite.
        migrations.RunSQL(
            sql=COPY_FORWARD,
            reverse_sql=COPY_BACK,
        ),
        migrations.RemoveConstraint(
            model_name="chatuser",
            name="chatuser_remote_id_unique",
        ),
        migrations.RemoveIndex(
            model_name="chatuser",
            name="chatuser_bot_sync_state",
        ),
        migrations.RemoveIndex(
            model_name="chatuser",
            name="chatuser_sync_state_created",
        ),
        migrations.RemoveField(
            model_name="chatuser",
            name="remote_id",
        ),
        migrations.RemoveField(
            model_name="chatuser",
            name="remote_updated_at",
        ),
        migrations.RemoveField(
            model_name="chatuser",
            name="sync_error",
        ),
        migrations.RemoveField(
            model_name="chatuser",
            name="sync_state",
        ),
        migrations.RemoveField(
            model_name="chatuser",
            name="synced_at",
        ),
        migrations.RemoveField(
            model_name="chatuser",
            name="synced_snapshot",
        ),
        migrations.AddIndex(
            model_name="chatusersync",
            index=models.Index(
                condition=models.Q(("sync_state", "synced"), _negated=True),
                fields=["bot", "sync_state", "-created_at", "-chatuser"],
                name="chatuser_unsynced",
            ),
        ),
        migrations.AddConstraint(
            model_name="chatusersync",
            constraint=models.UniqueConstraint(
                condition=models.Q(("remote_id__isnull", False)),
                fields=("bot", "remote_id"),
                name="chatuser_remote_id_unique",
            ),
        ),
    ]
