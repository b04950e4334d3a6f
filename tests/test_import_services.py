"""The CSV import's services: what a run creates, updates, leaves alone, rejects, and undoes."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

from backoffice.sync.models import OutboxEntry
from chatusers.export import csv_lines
from chatusers.import_models import ImportChange, ImportJob
from chatusers.imports.run import RUN_LOCK_NAMESPACE, import_job_run
from chatusers.imports.services import (
    import_job_cancel,
    import_job_configure,
    import_job_create,
    import_job_run_for_real,
    import_job_start,
)
from chatusers.imports.undo import import_job_undo
from chatusers.models import ChatUser, ChatUserSync, ChatUserTag, SegmentFilter, Tag, Variable
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory, TagFactory
from tests.imports import rejected_rows, run_import

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def actor() -> Any:
    return get_user_model().objects.create_user("operator", password="x")


def counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.created, job.updated, job.unchanged, job.rejected


def table_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (ChatUser, ChatUserTag, Tag, Variable, OutboxEntry, ImportChange)
    }


def test_import_creates_chat_users_with_tags_variables_and_outbox_entries(actor: Any) -> None:
    bot = BotFactory()

    job = run_import(
        bot,
        actor,
        "name,email,phone,language,tags,var:city\n"
        "Ada,ada@example.com,+393331234567,it,vip|news,Rome\n"
        "Bob,bob@example.com,,EN,,\n",
        extra_tags=["fair-2026"],
    )

    assert (job.status, counts(job), job.rows_total, job.rows_done) == ("done", (2, 0, 0, 0), 2, 2)
    ada = ChatUser.objects.get(email="ada@example.com")
    bob = ChatUser.objects.get(email="bob@example.com")
    assert (ada.name, ada.phone, ada.language, ada.channel, ada.sync_state) == (
        "Ada",
        "+393331234567",
        "it",
        "api",
        "pending",
    )
    assert sorted(ada.tags.values_list("name", flat=True)) == ["fair-2026", "news", "vip"]
    assert list(bob.tags.values_list("name", flat=True)) == ["fair-2026"]
    assert bob.language == "en"
    assert dict(ada.variables.values_list("name", "value")) == {"city": "Rome"}
    assert sorted(OutboxEntry.objects.values_list("object_id", flat=True)) == sorted([ada.pk, bob.pk])
    assert sorted(ImportChange.objects.values_list("chatuser_id", "created", "before")) == sorted(
        [(ada.pk, True, None), (bob.pk, True, None)]
    )
    assert LogEntry.objects.filter(object_id=str(job.pk)).count() == 1


def test_reimporting_the_same_file_changes_nothing_and_writes_no_outbox_entry(actor: Any) -> None:
    bot = BotFactory()
    content = "name,email,tags,var:plan\nAda,ada@example.com,vip,gold\nBob,bob@example.com,,\n"
    run_import(bot, actor, content)
    OutboxEntry.objects.all().delete()
    before = table_counts()

    job = run_import(bot, actor, content)

    assert counts(job) == (0, 0, 2, 0)
    assert table_counts() == before


def test_update_changes_only_given_fields_and_records_the_before_image(actor: Any) -> None:
    bot = BotFactory()
    vip = TagFactory(bot=bot, name="vip")
    ada = ChatUserFactory(bot=bot, name="Ada", surname="Lovelace", email="ada@example.com", language="it")
    ada.tags.add(vip)
    ada.variables.create(name="plan", value="gold")

    job = run_import(bot, actor, "email,name,tags,var:plan\nADA@example.com,Augusta,news,silver\n")

    assert counts(job) == (0, 1, 0, 0)
    ada.refresh_from_db()
    assert (ada.name, ada.surname, ada.email) == ("Augusta", "Lovelace", "ada@example.com")
    assert list(ada.tags.values_list("name", flat=True)) == ["news"]
    assert dict(ada.variables.values_list("name", "value")) == {"plan": "silver"}
    assert list(OutboxEntry.objects.values_list("object_id", flat=True)) == [ada.pk]
    change = ImportChange.objects.get()
    assert change.before == {
        "fields": {
            "name": "Ada",
            "surname": "Lovelace",
            "email": "ada@example.com",
            "phone": None,
            "channel": "webchat",
            "language": "it",
        },
        "tags": ["vip"],
        "variables": {"plan": "gold"},
    }


def test_fill_blanks_never_replaces_a_value(actor: Any) -> None:
    bot = BotFactory()
    ada = ChatUserFactory(bot=bot, name="Ada", surname="", email="ada@example.com", language="")
    ada.variables.create(name="plan", value="gold")

    job = run_import(
        bot,
        actor,
        "email,name,surname,language,var:plan,var:city\nada@example.com,Augusta,Lovelace,en,silver,Rome\n",
        overwrite="fill_blanks",
    )

    assert counts(job) == (0, 1, 0, 0)
    ada.refresh_from_db()
    assert (ada.name, ada.surname, ada.language) == ("Ada", "Lovelace", "en")
    assert dict(ada.variables.values_list("name", "value")) == {"plan": "gold", "city": "Rome"}


def test_an_empty_cell_leaves_the_field_as_it_is(actor: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, name="Ada", email="ada@example.com", phone="+393331234567")

    job = run_import(bot, actor, "email,name,phone\nada@example.com,,\n")

    assert counts(job) == (0, 0, 1, 0)
    assert ChatUser.objects.values_list("name", "phone").get() == ("Ada", "+393331234567")


def test_a_later_row_with_a_key_of_an_earlier_row_is_rejected_as_its_duplicate(actor: Any) -> None:
    bot = BotFactory()

    job = run_import(
        bot,
        actor,
        "name,email,phone\n"
        "Ada,ada@example.com,+393331234567\n"
        "Ada again,ADA@example.com,\n"
        "Bob,bob@example.com,+393331234567\n",
    )

    assert counts(job) == (1, 0, 0, 2)
    assert list(ChatUser.objects.values_list("name", flat=True)) == ["Ada"]
    assert rejected_rows(job) == [
        ["2", "Same email as row 1: a duplicate in the file."],
        ["3", "Same phone as row 1: a duplicate in the file."],
    ]


def test_duplicates_are_found_across_chunks(actor: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("chatusers.imports.chunks.CHUNK_ROWS", 2)
    bot = BotFactory()

    job = run_import(bot, actor, "email\na@example.com\nb@example.com\nc@example.com\na@example.com\n")

    assert counts(job) == (3, 0, 0, 1)
    assert rejected_rows(job) == [["4", "Same email as row 1: a duplicate in the file."]]


def test_a_row_whose_phone_belongs_to_another_chat_user_is_rejected(actor: Any) -> None:
    bot = BotFactory()
    bob = ChatUserFactory(bot=bot, email="bob@example.com", phone="+393331234567")

    job = run_import(bot, actor, "email,phone\nada@example.com,+393331234567\n")

    assert counts(job) == (0, 0, 0, 1)
    assert rejected_rows(job) == [["1", f"Its phone +393331234567 belongs to another chat user (#{bob.pk})."]]
    assert ChatUser.objects.count() == 1


def test_modes_create_only_and_update_only(actor: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, name="Ada", email="ada@example.com")
    content = "email,name\nada@example.com,Augusta\nbob@example.com,Bob\n"

    created = run_import(bot, actor, content, mode="create")
    assert counts(created) == (1, 0, 1, 0)
    assert ChatUser.objects.get(email="ada@example.com").name == "Ada"

    updated = run_import(
        bot, actor, "email,name\nada@example.com,Augusta\ncarl@example.com,Carl\n", mode="update"
    )
    assert counts(updated) == (0, 1, 0, 1)
    assert rejected_rows(updated) == [["2", "No chat user has this email (the mode is update only)."]]
    assert not ChatUser.objects.filter(email="carl@example.com").exists()


def test_match_by_userbot_id_updates_and_rejects_an_unknown_id(actor: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, name="Ada", email="ada@example.com", remote_id="cu_1")

    job = run_import(bot, actor, "id,name\ncu_1,Augusta\ncu_9,Nobody\n", match_key="remote_id")

    assert counts(job) == (0, 1, 0, 1)
    assert rejected_rows(job) == [["2", "No chat user of this bot has the Userbot id cu_9."]]


def test_dry_run_counts_like_the_real_run_and_writes_nothing(actor: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, name="Ada", email="ada@example.com")
    content = "email,name,tags\nada@example.com,Augusta,new-tag\nbob@example.com,Bob,\nbad,Carl,\n"
    before = table_counts()

    dry = run_import(bot, actor, content, dry_run=True)

    assert table_counts() == before
    assert counts(dry) == (1, 1, 0, 1)
    real = run_import(bot, actor, content)
    assert counts(real) == counts(dry)


def test_an_export_reimports_to_no_change(actor: Any) -> None:
    bot = BotFactory()
    run_import(
        bot,
        actor,
        "name,surname,email,phone,channel,language,tags,var:note,var:plan\n"
        "=cmd,Lovelace,ada@example.com,+393331234567,whatsapp,it,vip|news,-1,gold\n"
        "Bob,@home,bob@example.com,,telegram,,,,\n",
    )
    OutboxEntry.objects.all().delete()
    exported = "".join(csv_lines(ChatUser.objects.filter(bot=bot)))
    assert "'=cmd" in exported
    before = table_counts()

    job = run_import(bot, actor, exported, match_key="email")

    assert counts(job) == (0, 0, 2, 0)
    assert table_counts() == before
    assert ChatUser.objects.get(email="ada@example.com").name == "=cmd"


def test_undo_deletes_what_the_import_created_and_restores_what_it_changed(actor: Any) -> None:
    bot = BotFactory()
    vip = TagFactory(bot=bot, name="vip")
    ada = ChatUserFactory(bot=bot, name="Ada", email="ada@example.com")
    ada.tags.add(vip)
    ada.variables.create(name="plan", value="gold")
    job = run_import(
        bot, actor, "email,name,tags,var:plan\nada@example.com,Augusta,news,silver\nbob@example.com,Bob,,\n"
    )
    bob = ChatUser.objects.get(email="bob@example.com")
    OutboxEntry.objects.all().delete()  # both were pushed meanwhile
    ChatUserSync.objects.filter(pk=bob.pk).update(remote_id="remote-bob")

    result = import_job_undo(job=job, actor=actor)

    assert result == {"deleted": 1, "restored": 1, "tags_deleted": 1, "tags_kept": 0}
    assert list(Tag.objects.filter(bot=bot).values_list("name", flat=True)) == ["vip"]
    ada.refresh_from_db()
    assert ada.name == "Ada"
    assert list(ada.tags.values_list("name", flat=True)) == ["vip"]
    assert dict(ada.variables.values_list("name", "value")) == {"plan": "gold"}
    assert not ChatUser.objects.filter(pk=bob.pk).exists()
    assert sorted(OutboxEntry.objects.values_list("object_id", "deleted")) == sorted(
        [(ada.pk, False), (bob.pk, True)]
    )
    assert ImportJob.objects.get(pk=job.pk).status == "undone"
    with pytest.raises(ValidationError, match="already been undone"):
        import_job_undo(job=job, actor=actor)


def test_undo_deletes_the_new_tags_nothing_holds_and_keeps_those_userbot_has(actor: Any) -> None:
    bot = BotFactory()
    TagFactory(bot=bot, name="vip")
    kept_by_segment = SegmentFactory(bot=bot)
    job = run_import(
        bot,
        actor,
        "email,tags\nada@example.com,news|promo|vip\nbob@example.com,held\n",
        extra_tags=["segmented"],
    )
    created = dict(Tag.objects.filter(pk__in=job.created_tags).values_list("name", "pk"))
    assert sorted(created) == ["held", "news", "promo", "segmented"]
    Tag.objects.filter(name="promo").update(remote_id="t-promo")  # pushed: Userbot has it now
    someone = ChatUserFactory(bot=bot, email="someone@example.com")
    someone.tags.add(created["held"])  # given by hand to a chat user the import never touched
    SegmentFilter.objects.create(
        segment=kept_by_segment, field="tag", op="eq", value="segmented", tag_id=created["segmented"]
    )

    result = import_job_undo(job=job, actor=actor)

    assert (result["tags_deleted"], result["tags_kept"]) == (1, 3)
    assert sorted(Tag.objects.filter(bot=bot).values_list("name", flat=True)) == [
        "held",
        "promo",
        "segmented",
        "vip",
    ]
    deletions = LogEntry.objects.filter(object_repr="news", action_flag=DELETION)
    assert list(deletions.values_list("change_message", "user")) == [("Deleted", actor.pk)]


def test_undo_is_refused_while_running(actor: Any) -> None:
    bot = BotFactory()
    job = run_import(bot, actor, "email\nada@example.com\n")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    with pytest.raises(ValidationError, match="once it has stopped running"):
        import_job_undo(job=job, actor=actor)
    assert ChatUser.objects.count() == 1


def test_a_rerun_after_a_crash_resumes_after_the_last_committed_chunk(actor: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("chatusers.imports.chunks.CHUNK_ROWS", 2)
    bot = BotFactory()
    content = "email\na@example.com\nb@example.com\nc@example.com\na@example.com\nd@example.com\n"
    job = run_import(bot, actor, content)
    expected = counts(job)
    # As if the worker died after the first chunk committed: the rest rolled back.
    ChatUser.objects.filter(email__in=["c@example.com", "d@example.com"]).delete()
    ImportChange.objects.filter(chatuser_id__in=[]).delete()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, rows_done=2, created=2, updated=0, unchanged=0, rejected=0
    )

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert counts(job) == expected == (4, 0, 0, 1)
    assert ChatUser.objects.count() == 4
    assert rejected_rows(job) == [["4", "Same email as row 1: a duplicate in the file."]]


def test_a_finished_job_is_not_run_again(actor: Any) -> None:
    bot = BotFactory()
    job = run_import(bot, actor, "email\na@example.com\n")

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, counts(job), ChatUser.objects.count()) == ("done", (1, 0, 0, 0), 1)


def test_cancel_stops_between_chunks(actor: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("chatusers.imports.chunks.CHUNK_ROWS", 1)
    bot = BotFactory()
    job = import_job_create(
        bot=bot, actor=actor, upload=SimpleUploadedFile("c.csv", b"email\na@example.com\nb@example.com\n")
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    def cancel_after_first(job: ImportJob, rate: float, eta: float | None) -> None:
        import_job_cancel(job=job)

    import_job_run(job_id=job.pk, progress=cancel_after_first)

    job.refresh_from_db()
    assert (job.status, job.rows_done, ChatUser.objects.count()) == ("cancelled", 1, 1)


def test_configure_rejects_a_match_key_without_its_column(actor: Any) -> None:
    bot = BotFactory()
    job = import_job_create(
        bot=bot, actor=actor, upload=SimpleUploadedFile("c.csv", b"name,phone\nAda,+3933\n")
    )

    with pytest.raises(ValidationError) as caught:
        import_job_configure(
            job=job,
            mapping=job.mapping,
            mode="upsert",
            match_key="email",
            overwrite="overwrite",
            extra_tags=[],
            dry_run=False,
        )

    assert caught.value.message_dict == {"match_key": ["Matching by email needs a column mapped to email."]}


def test_start_queues_the_task_after_commit(
    actor: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("chatusers.tasks.import_run.delay", sent.append)
    bot = BotFactory()
    job = import_job_create(
        bot=bot, actor=actor, upload=SimpleUploadedFile("c.csv", b"email\na@example.com\n")
    )

    with django_capture_on_commit_callbacks(execute=True):
        import_job_start(job=job)

    assert (sent, ImportJob.objects.get(pk=job.pk).status) == ([job.pk], "queued")
    with pytest.raises(ValidationError):
        import_job_start(job=job)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_a_job_running_in_another_worker_is_not_run_twice(actor: Any) -> None:
    bot = BotFactory()
    job = import_job_create(
        bot=bot, actor=actor, upload=SimpleUploadedFile("c.csv", b"email\na@example.com\n")
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [RUN_LOCK_NAMESPACE, job.pk])

        import_job_run(job_id=job.pk)

        job.refresh_from_db()
        assert (job.status, job.rows_done, ChatUser.objects.count()) == ("running", 0, 0)
    finally:
        other.close()


def test_a_finished_dry_run_runs_for_real_with_its_file_and_settings(
    actor: Any, django_capture_on_commit_callbacks: Any
) -> None:
    bot = BotFactory()
    dry_run = run_import(bot, actor, "email,name\nada@example.com,Ada\n", dry_run=True, extra_tags=["fair"])

    with django_capture_on_commit_callbacks() as queued:
        job = import_job_run_for_real(dry_run=dry_run, actor=actor)

    assert (job.status, job.dry_run, job.file.name, job.header) == (
        "queued",
        False,
        dry_run.file.name,
        ["email", "name"],
    )
    assert (job.mapping, job.extra_tags, job.mode) == (dry_run.mapping, ["fair"], "upsert")
    assert len(queued) == 1
    assert not ChatUser.objects.exists()  # nothing is written until the worker runs it


def test_only_a_finished_dry_run_runs_for_real_and_a_refusal_leaves_no_job(actor: Any) -> None:
    real = run_import(BotFactory(), actor, "email,name\nada@example.com,Ada\n")

    with pytest.raises(ValidationError) as refused:
        import_job_run_for_real(dry_run=real, actor=actor)

    assert refused.value.messages == ["Only a finished dry run can be run for real."]
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [real.pk]


def test_the_rejected_rows_header_is_neutralised_like_its_cells(actor: Any) -> None:
    job = run_import(
        BotFactory(),
        actor,
        "email,=HYPERLINK(1),+1,-1,@SUM(A1)\nada@,=cmd,+2,-2,@x\n",
    )

    with job.rejected_file.open("r") as handle:
        lines = handle.read().splitlines()
    assert lines == [
        "row,reason,email,'=HYPERLINK(1),'+1,'-1,'@SUM(A1)",
        "1,email: “ada@” is not a valid email address.,ada@,'=cmd,'+2,'-2,'@x",
    ]


@pytest.mark.parametrize(("dry_run", "chunk_rows"), [(True, 5000), (False, 5000), (True, 2), (False, 2)])
def test_an_import_creates_at_most_the_new_tags_allowed(
    actor: Any, settings: Any, monkeypatch: Any, dry_run: bool, chunk_rows: int
) -> None:
    monkeypatch.setattr("chatusers.imports.chunks.CHUNK_ROWS", chunk_rows)
    settings.CHATUSER_IMPORT_MAX_NEW_TAGS = 3
    bot = BotFactory()
    TagFactory(bot=bot, name="old")

    job = run_import(
        bot,
        actor,
        "email,tags\n"
        "a@example.com,one|two|old\n"
        "b@example.com,Two|three\n"
        "c@example.com,four|one\n"
        "d@example.com,old\n"
        "e@example.com,five\n",
        dry_run=dry_run,
    )

    past = "tags: “{}” is a new tag, past the 3 new tags one import may create."
    assert counts(job) == (3, 0, 0, 2)
    assert rejected_rows(job) == [["3", past.format("four")], ["5", past.format("five")]]
    expected_tags = ["old"] if dry_run else ["Two", "old", "one", "three"]
    assert sorted(Tag.objects.filter(bot=bot).values_list("name", flat=True)) == expected_tags


def test_tags_for_every_row_are_capped_as_a_cell_and_as_new_tags(actor: Any, settings: Any) -> None:
    settings.CHATUSER_IMPORT_MAX_TAGS_PER_CELL = 2
    settings.CHATUSER_IMPORT_MAX_NEW_TAGS = 1
    bot = BotFactory()
    TagFactory(bot=bot, name="known")
    job = import_job_create(
        bot=bot, actor=actor, upload=SimpleUploadedFile("c.csv", b"email\na@example.com\n")
    )
    choices = {"mapping": job.mapping, "mode": "upsert", "match_key": "email", "overwrite": "overwrite"}

    with pytest.raises(ValidationError) as too_many:
        import_job_configure(job=job, **choices, extra_tags=["a", "b", "c"], dry_run=False)
    with pytest.raises(ValidationError) as too_new:
        import_job_configure(job=job, **choices, extra_tags=["a", "b"], dry_run=False)
    import_job_configure(job=job, **choices, extra_tags=["KNOWN", "a"], dry_run=False)

    assert too_many.value.message_dict == {"extra_tags": ["At most 2 tags for every row (there are 3)."]}
    assert too_new.value.message_dict == {
        "extra_tags": ["2 of these tags are new; one import creates at most 1 new tags."]
    }
    assert job.extra_tags == ["KNOWN", "a"]
