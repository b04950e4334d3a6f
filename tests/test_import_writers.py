"""Chunks written side by side on PostgreSQL: connections of their own, commits in file order.

These run outside a test transaction (the writers' connections must see the bot and the
job), so each test leaves nothing behind: pytest-django empties the tables after it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from backoffice.sync.models import OutboxEntry
from chatusers.import_models import ImportChange, ImportJob
from chatusers.imports import chunks, parallel
from chatusers.imports.postgres_writer import PostgresWriter
from chatusers.imports.undo import import_job_undo
from chatusers.imports.upsert import LOST_KEY
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable
from tests.factories import BotFactory, ChatUserFactory
from tests.imports import rejected_rows, run_import

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="chunks are written side by side on PostgreSQL"
    ),
]


@pytest.fixture(autouse=True)
def small_chunks(tmp_path: Any, settings: Any, monkeypatch: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 2)


@pytest.fixture
def actor() -> Any:
    return get_user_model().objects.create_user("operator", password="x")


def counts(job: ImportJob) -> tuple[int, int, int, int, int]:
    return job.rows_done, job.created, job.updated, job.unchanged, job.rejected


def pending_entries() -> list[int]:
    return sorted(
        OutboxEntry.objects.filter(object_type="chatusers.chatuser", state="pending").values_list(
            "object_id", flat=True
        )
    )


def test_a_fresh_import_in_chunks_written_side_by_side_creates_every_row_once(actor: Any) -> None:
    bot = BotFactory()
    rows = [f"User {n},user{n}@example.com,vip|news,Rome" for n in range(1, 10)]
    rows[7] = "User 8,user8@example.com,vip|late,Rome"  # a tag the bot lacks, chunks after the first
    rows.insert(6, "Again,USER2@example.com,,")  # row 7, a duplicate of row 2 three chunks later

    job = run_import(bot, actor, "name,email,tags,var:city\n" + "\n".join(rows) + "\n", extra_tags=["fair"])

    assert (job.status, counts(job)) == ("done", (10, 9, 0, 0, 1))
    assert rejected_rows(job) == [["7", "Same email as row 2: a duplicate in the file."]]
    users = list(ChatUser.objects.filter(bot=bot).order_by("email"))
    assert [u.email for u in users] == [f"user{n}@example.com" for n in range(1, 10)]
    assert {u.sync_state for u in users} == {"pending"}
    assert pending_entries() == sorted(u.pk for u in users)
    assert ChatUserTag.objects.filter(chatuser__bot=bot).count() == 27
    assert sorted(set(ChatUserTag.objects.values_list("tag__name", flat=True))) == [
        "fair",
        "late",
        "news",
        "vip",
    ]
    assert list(
        ChatUser.objects.get(email="user8@example.com").tags.order_by("name").values_list("name", flat=True)
    ) == [
        "fair",
        "late",
        "vip",
    ]
    assert Variable.objects.filter(name="city", value="Rome").count() == 9
    assert sorted(ImportChange.objects.filter(job=job).values_list("chatuser_id", "created", "before")) == [
        (u.pk, True, None) for u in sorted(users, key=lambda u: u.pk)
    ]

    # Every tag it created, the one of a later chunk too, goes with it: no one holds them.
    assert import_job_undo(job=job, actor=actor) == {
        "deleted": 9,
        "restored": 0,
        "tags_deleted": 4,
        "tags_kept": 0,
    }
    assert not ChatUser.objects.filter(bot=bot).exists()
    assert not Tag.objects.filter(bot=bot).exists()


def test_a_row_is_decided_on_what_earlier_chunks_changed_even_before_they_commit(actor: Any) -> None:
    bot = BotFactory()
    ada = ChatUserFactory(bot=bot, name="Ada", email="ada@example.com", phone="+393330000001")
    bob = ChatUserFactory(bot=bot, name="Bob", email="bob@example.com", phone="+393330000002")
    # Row 1 moves Ada to a new email; row 3 (the next chunk) then has her old one, which is
    # free by then: a new chat user, as if the rows had been applied one by one.
    content = (
        "phone,email,name\n"
        "+393330000001,augusta@example.com,Augusta\n"
        "+393330000002,bob@example.com,Robert\n"
        "+393339999999,ada@example.com,Another Ada\n"
    )
    OutboxEntry.objects.all().delete()

    job = run_import(bot, actor, content, match_key="phone")

    assert (job.status, counts(job)) == ("done", (3, 1, 2, 0, 0))
    ada.refresh_from_db()
    bob.refresh_from_db()
    other = ChatUser.objects.get(email="ada@example.com")
    assert (ada.name, ada.email, bob.name, other.name, other.phone) == (
        "Augusta",
        "augusta@example.com",
        "Robert",
        "Another Ada",
        "+393339999999",
    )
    assert pending_entries() == sorted([ada.pk, bob.pk, other.pk])
    assert import_job_undo(job=job, actor=actor) == {
        "deleted": 1,
        "restored": 2,
        "tags_deleted": 0,
        "tags_kept": 0,
    }
    ada.refresh_from_db()
    assert (ada.name, ada.email) == ("Ada", "ada@example.com")


def test_a_failed_chunk_rolls_back_the_chunks_after_it_and_the_job_stops_at_the_last_commit(
    actor: Any, monkeypatch: Any
) -> None:
    bot = BotFactory()
    finish_created = PostgresWriter.finish_created

    def failing_on_row_5(self: PostgresWriter, ids: list[int], *links: Any) -> None:
        # Seen on the writer's own connection, in its chunk's transaction.
        if ChatUser.objects.filter(pk__in=ids, email="u5@example.com").exists():
            raise RuntimeError("disk full")
        finish_created(self, ids, *links)

    monkeypatch.setattr(PostgresWriter, "finish_created", failing_on_row_5)
    rows = "\n".join(f"u{n}@example.com" for n in range(1, 11))

    job = run_import(bot, actor, f"email\n{rows}\n")

    assert job.status == "failed"
    assert job.error == "The import stopped: disk full"
    # Rows 5 and 6 are the third chunk: the two before it commit, and the one after it,
    # which may have been written meanwhile, rolls back.
    done = 4
    assert counts(job) == (done, done, 0, 0, 0)
    assert ChatUser.objects.filter(bot=bot).count() == done
    assert ImportChange.objects.filter(job=job).count() == done
    assert len(pending_entries()) == done


def test_a_chunk_waiting_for_its_turn_gives_way_to_the_chunk_before_when_that_one_waits_on_a_lock(
    actor: Any, monkeypatch: Any
) -> None:
    bot = BotFactory()
    blocked = parallel._blocked
    seen_blocked: list[bool] = []

    def watched(backend_pid: int) -> bool:
        seen_blocked.append(blocked(backend_pid))
        return seen_blocked[-1]

    monkeypatch.setattr(parallel, "_blocked", watched)
    # Another session inserts row 1's email and holds it uncommitted: the first chunk's
    # insert waits on it while the second chunk, written, waits for its turn.
    other = connections.create_connection("default")
    try:
        other.inc_thread_sharing()  # a timer commits it
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute(
                "INSERT INTO chatusers_chatuser (bot_id, client_ref, name, surname, email, channel, language,"
                " created_at, updated_at)"
                " VALUES (%s, 'taken', 'Taken', '', 'u1@example.com', 'api', '', now(), now())",
                [bot.pk],
            )
            cursor.execute(
                "INSERT INTO chatusers_chatusersync (chatuser_id, bot_id, created_at, sync_state, sync_error)"
                " SELECT id, bot_id, created_at, 'synced', '' FROM chatusers_chatuser"
                " WHERE bot_id = %s AND client_ref = 'taken'",
                [bot.pk],
            )
        release = threading.Timer(1.5, other.commit)
        release.start()
        started = time.monotonic()

        job = run_import(bot, actor, "email\n" + "\n".join(f"u{n}@example.com" for n in range(1, 7)) + "\n")

        release.join()
    finally:
        other.close()

    assert time.monotonic() - started >= 1.5
    assert True in seen_blocked  # the second chunk saw the first wait, and rolled back
    assert (job.status, counts(job)) == ("done", (6, 5, 0, 0, 1))
    assert rejected_rows(job) == [["1", LOST_KEY]]
    assert ChatUser.objects.get(email="u1@example.com").name == "Taken"
    imported = ChatUser.objects.filter(bot=bot).exclude(name="Taken")
    assert sorted(imported.values_list("email", flat=True)) == [f"u{n}@example.com" for n in range(2, 7)]
    assert pending_entries() == sorted(imported.values_list("pk", flat=True))
