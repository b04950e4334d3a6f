"""The CSV import in the admin: upload, mapping, dry run, progress, history, undo, and the
WebSocket that carries an import's progress to the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AnonymousUser, Group
from django.core.files.uploadedfile import SimpleUploadedFile

from backoffice.celery import app as celery_app
from backoffice.sync.models import OutboxEntry
from chatusers.consumers import websocket_urlpatterns
from chatusers.import_models import ImportChange, ImportJob, ImportMapping
from chatusers.models import ChatUser, Variable
from tests.factories import BotFactory, ChatUserFactory
from tests.factories_content import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chatusers/chatuser/"
HISTORY = "/admin/chatusers/importjob/"
UPLOAD = "/admin/chatusers/importjob/upload/"
CONTACTS = (
    "Email;First name;Surname;Favourite colour\r\n"
    "ada@example.com;Ada;Lovelace;green\r\n"
    "grace@example.com;Grace;Hopper;blue\r\n"
    "not-an-email;Bad;Row;red\r\n"
)
PROGRESS_KEYS = {
    "status",
    "rows_done",
    "rows_total",
    "created",
    "updated",
    "unchanged",
    "rejected",
    "rate_per_s",
    "eta_s",
}


@pytest.fixture(autouse=True)
def _files_and_worker(settings: Any, tmp_path: Any) -> Iterator[None]:
    """Uploads land in a temporary media folder; the import task runs in the test's thread."""
    settings.MEDIA_ROOT = tmp_path / "media"
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


def _user_in(group: str, username: str) -> Any:
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator() -> Any:
    return _user_in("operator", "olga")


@pytest.fixture
def viewer() -> Any:
    return _user_in("viewer", "victor")


@pytest.fixture
def operator_client(client: Any, operator: Any) -> Any:
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client: Any, viewer: Any) -> Any:
    client.force_login(viewer)
    return client


@pytest.fixture
def bot() -> Any:
    return BotFactory(name="Shop", sitekey="shop")


def _csv(text: str | bytes, name: str = "contacts.csv") -> SimpleUploadedFile:
    content = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, content, content_type="text/csv")


def _upload(client: Any, bot: Any, text: str | bytes = CONTACTS, name: str = "contacts.csv") -> Any:
    return client.post(UPLOAD, {"bot": bot.pk, "file": _csv(text, name)})


def _draft(client: Any, bot: Any, text: str | bytes = CONTACTS) -> ImportJob:
    response = _upload(client, bot, text)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return ImportJob.objects.get()


def _mapping_data(job: ImportJob, targets: dict[str, str] | None = None, **fields: str) -> dict[str, str]:
    """The mapping form as the page proposes it, with ``targets`` ({header: target}) changed."""
    mapping = {**job.mapping, **(targets or {})}
    data = {"mode": "upsert", "match_key": "email", "overwrite": "overwrite", "extra_tags": "", "save_as": ""}
    for index, column in enumerate(job.header):
        target = mapping.get(column, "skip")
        if target.startswith("var:"):
            data[f"target_{index}"], data[f"variable_{index}"] = "var", target[4:]
        else:
            data[f"target_{index}"], data[f"variable_{index}"] = target, ""
    data.update(fields)
    return data


def _mapping_url(job: ImportJob) -> str:
    return f"{HISTORY}{job.pk}/mapping/"


def _progress_url(job: ImportJob) -> str:
    return f"{HISTORY}{job.pk}/progress/"


def _run(
    client: Any,
    job: ImportJob,
    capture: Any,
    *,
    button: str,
    targets: dict[str, str] | None = None,
    **fields: str,
) -> Any:
    with capture(execute=True):
        response = client.post(_mapping_url(job), {**_mapping_data(job, targets, **fields), button: "1"})
    job.refresh_from_db()
    return response


# --- who may import ------------------------------------------------------------------------


def test_the_chat_user_list_offers_import_csv_to_an_operator_only(
    operator_client: Any, viewer: Any, client: Any
) -> None:
    assert UPLOAD in operator_client.get(CHANGELIST).content.decode()

    client.force_login(viewer)
    page = client.get(CHANGELIST)

    assert page.status_code == 200
    assert UPLOAD not in page.content.decode()


def test_a_viewer_cannot_upload_a_file(viewer_client: Any, bot: Any) -> None:
    assert viewer_client.get(UPLOAD).status_code == 403
    assert _upload(viewer_client, bot).status_code == 403
    assert ImportJob.objects.count() == 0


def test_a_viewer_cannot_map_cancel_repeat_or_undo_an_import(
    operator_client: Any, viewer: Any, bot: Any, client: Any
) -> None:
    job = _draft(operator_client, bot)
    client.force_login(viewer)

    assert client.get(_mapping_url(job)).status_code == 403
    assert client.post(_mapping_url(job), {**_mapping_data(job), "_import": "1"}).status_code == 403
    assert client.post(f"{HISTORY}{job.pk}/cancel/").status_code == 403
    assert client.post(f"{HISTORY}{job.pk}/repeat/").status_code == 403
    assert client.post(f"{HISTORY}{job.pk}/undo/").status_code == 403
    job.refresh_from_db()
    assert (job.status, job.cancel_requested, ImportJob.objects.count()) == ("draft", False, 1)


def test_a_user_without_chat_user_permissions_sees_no_import(client: Any, bot: Any, operator: Any) -> None:
    job = ImportJob.objects.create(bot=bot, created_by=operator, original_name="a.csv", header=["email"])
    client.force_login(UserFactory(username="nobody"))

    assert client.get(HISTORY).status_code == 403
    assert client.get(_progress_url(job)).status_code == 403
    assert client.get(f"{HISTORY}{job.pk}/progress.json").status_code == 403


# --- upload ----------------------------------------------------------------------------------


def test_the_upload_page_states_the_size_and_column_limits(operator_client: Any, settings: Any) -> None:
    settings.CHATUSER_IMPORT_MAX_BYTES = 5_000_000
    settings.CHATUSER_IMPORT_MAX_COLUMNS = 40

    page = operator_client.get(UPLOAD).content.decode()

    assert "At most 5 MB and 40 columns." in page
    assert '<input type="submit" value="Upload and map the columns"' in page


def test_the_upload_page_gives_the_default_size_limit_as_the_readme_does(operator_client: Any) -> None:
    page = operator_client.get(UPLOAD).content.decode()

    assert "At most 200 MB and 500 columns." in page


def test_an_upload_becomes_a_draft_import_and_opens_its_mapping(
    operator_client: Any, operator: Any, bot: Any
) -> None:
    response = _upload(operator_client, bot)

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _mapping_url(job)
    assert (job.bot, job.created_by, job.original_name, job.status) == (
        bot,
        operator,
        "contacts.csv",
        "draft",
    )
    assert (job.delimiter, job.header) == (";", ["Email", "First name", "Surname", "Favourite colour"])
    assert ChatUser.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (
            b"\x00\x01\x02\x03\x04\x05\x06\x07" * 64,
            "This is not a text file (it holds binary data): upload a CSV file.",
        ),
    ],
)
def test_an_unreadable_upload_is_reported_on_the_file_field(
    operator_client: Any, bot: Any, content: bytes, message: str
) -> None:
    response = _upload(operator_client, bot, content)

    assert response.status_code == 200
    assert response.context["form"].errors == {"file": [message]}
    assert "Please correct the error below." in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_an_upload_over_the_limit_is_refused(operator_client: Any, bot: Any, settings: Any) -> None:
    settings.CHATUSER_IMPORT_MAX_BYTES = 100_000

    response = _upload(operator_client, bot, CONTACTS + "x@example.com;X;Y;Z\r\n" * 10_000)

    assert response.context["form"].errors == {
        "file": ["The file is 210.1 kB; the largest file the import takes is 100 kB."]
    }
    assert ImportJob.objects.count() == 0


def test_a_file_with_too_many_columns_is_refused_on_the_upload_page(
    operator_client: Any, bot: Any, settings: Any
) -> None:
    settings.CHATUSER_IMPORT_MAX_COLUMNS = 3

    response = _upload(operator_client, bot)

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "file": [
            "The header has 4 columns; the import reads at most 3. "
            "Remove the columns you do not import and upload the file again."
        ]
    }
    assert ImportJob.objects.count() == 0


# --- mapping ---------------------------------------------------------------------------------


def test_the_mapping_page_preselects_matched_columns_and_shows_the_file(
    operator_client: Any, bot: Any
) -> None:
    job = _draft(operator_client, bot, CONTACTS.encode("latin-1").replace(b"Ada", b"Ad\xe0"))

    response = operator_client.get(_mapping_url(job))
    form = response.context["form"]
    page = response.content.decode()

    assert [form[f"target_{index}"].value() for index in range(4)] == ["email", "name", "surname", "skip"]
    assert response.context["sample"] == [
        ["ada@example.com", "Adà", "Lovelace", "green"],
        ["grace@example.com", "Grace", "Hopper", "blue"],
        ["not-an-email", "Bad", "Row", "red"],
    ]
    assert job.encoding_note in page and job.encoding_note
    assert '<td id="import-delimiter">semicolon</td>' in page
    assert 'value="Dry run"' in page and 'value="Import"' in page


@pytest.mark.parametrize(
    ("targets", "fields", "errors"),
    [
        (
            {"Favourite colour": "var"},
            {},
            {"variable_3": ["Name the variable this column fills."]},
        ),
        (
            {},
            {"variable_3": "colour"},
            {"variable_3": ["A variable name needs the target “variable…”."]},
        ),
        (
            {"Surname": "email"},
            {},
            {"target_2": ["Column “Email” already maps to email."]},
        ),
    ],
)
def test_the_mapping_form_explains_what_is_wrong(
    operator_client: Any,
    bot: Any,
    targets: dict[str, str],
    fields: dict[str, str],
    errors: dict[str, list[str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = _draft(operator_client, bot)

    response = _run(
        operator_client, job, django_capture_on_commit_callbacks, button="_dry_run", targets=targets, **fields
    )

    assert response.status_code == 200
    assert response.context["form"].errors == errors
    page = response.content.decode()
    for field, messages in errors.items():
        assert f'<ul class="errorlist"><li>{messages[0]}</li></ul>' in page
        assert re.search(f'<(select|input) [^>]*id="id_{field}"[^>]* aria-invalid="true"', page)
    assert (job.status, job.mapping) == (
        "draft",
        {"Email": "email", "First name": "name", "Surname": "surname", "Favourite colour": "skip"},
    )


def test_the_mapping_page_of_hundreds_of_columns_shows_each_columns_choice(
    operator_client: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    header = ["Email", "First name", *(f"note {n}" for n in range(498))]
    job = _draft(operator_client, bot, ";".join(header) + "\r\nada@example.com;Ada" + ";x" * 498 + "\r\n")

    page = operator_client.get(_mapping_url(job)).content.decode()

    assert page.count('<select name="target_') == 500
    assert '<select name="target_0" id="id_target_0" required><option value="name">name</option>' in page
    assert '<option value="email" selected>email</option>' in page
    assert '<label for="id_target_499">note 497</label>' in page
    assert '<input type="text" name="variable_499" maxlength="200" id="id_variable_499">' in page
    response = _run(operator_client, job, django_capture_on_commit_callbacks, button="_import")
    job.refresh_from_db()
    assert (response.status_code, job.status, job.created) == (302, "done", 1)


def test_the_sample_says_when_the_first_row_runs_past_the_preview(operator_client: Any, bot: Any) -> None:
    wide = ";".join("x" * 60_000 for _ in range(6))
    job = _draft(operator_client, bot, f"Email;a;b;c;d;e\r\n{wide}\r\nada@example.com;1;2;3;4;5\r\n")

    response = operator_client.get(_mapping_url(job))

    [[message]] = response.context["sample"]
    assert message.startswith("⚠ Row 1 runs past the first 262.")
    assert message.endswith(" kB of the file (it is longer than the preview reads).")
    assert message in response.content.decode()


def test_the_sample_shows_where_a_quote_left_open_swallows_rows(operator_client: Any, bot: Any) -> None:
    rows = "".join(f"{n}@example.com;Name {n};S;c\r\n" for n in range(5000))
    job = _draft(operator_client, bot, CONTACTS.split("\r\n")[0] + '\r\n"ada@example.com;Ada;L;g\r\n' + rows)

    sample = operator_client.get(_mapping_url(job)).context["sample"]

    assert sample[0] == [
        "⚠ A quote opened on line 2 is not closed by line 2119, where its cell passes 65536 characters: "
        "lines 2 to 2119 were not read."
    ]
    assert sample[1] == ["2117@example.com", "Name 2117", "S", "c"]


def test_discarding_an_upload_deletes_the_draft_and_its_file(operator_client: Any, bot: Any) -> None:
    job = _draft(operator_client, bot)
    stored = job.file.path

    response = operator_client.post(f"{HISTORY}{job.pk}/discard/", follow=True)

    assert response.redirect_chain == [(UPLOAD, 302)]
    assert [str(m) for m in response.context["messages"]] == ["The upload of contacts.csv was discarded."]
    assert ImportJob.objects.count() == 0
    assert not Path(stored).exists()


def test_a_match_key_without_its_column_is_refused_by_the_services(
    operator_client: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _draft(operator_client, bot)

    response = _run(
        operator_client, job, django_capture_on_commit_callbacks, button="_import", match_key="phone"
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["match_key"]
    assert (job.status, ChatUser.objects.count()) == ("draft", 0)


# --- dry run, import, progress -----------------------------------------------------------------


def test_a_dry_run_counts_every_row_and_writes_nothing(
    operator_client: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    ChatUserFactory(bot=bot, email="grace@example.com", name="Grace", surname="Hopper")
    job = _draft(operator_client, bot)
    outbox_before = OutboxEntry.objects.count()

    response = _run(operator_client, job, django_capture_on_commit_callbacks, button="_dry_run")

    assert response["Location"] == _progress_url(job)
    assert (job.dry_run, job.status) == (True, "done")
    assert (job.rows_total, job.created, job.updated, job.unchanged, job.rejected) == (3, 1, 0, 1, 1)
    assert ChatUser.objects.count() == 1
    assert OutboxEntry.objects.count() == outbox_before
    page = operator_client.get(_progress_url(job)).content.decode()
    assert "Dry run: nothing is written" in page
    assert '<th scope="row">Would create</th><td data-field="created">1</td>' in page
    assert '<th scope="row">Rejected</th><td data-field="rejected">1</td>' in page
    assert "Import for real with the same settings" in page
    assert f"{HISTORY}{job.pk}/rejected.csv" in page
    assert "import_progress.js" not in page  # finished: nothing left to follow


def test_an_import_writes_the_mapped_variable_and_the_extra_tags(
    operator_client: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _draft(operator_client, bot)

    _run(
        operator_client,
        job,
        django_capture_on_commit_callbacks,
        button="_import",
        targets={"Favourite colour": "var:colour"},
        extra_tags="spring fair, newsletter",
    )

    assert (job.dry_run, job.status, job.created, job.updated, job.unchanged, job.rejected) == (
        False,
        "done",
        2,
        0,
        0,
        1,
    )
    assert job.mapping == {
        "Email": "email",
        "First name": "name",
        "Surname": "surname",
        "Favourite colour": "var:colour",
    }
    ada = ChatUser.objects.get(email="ada@example.com")
    assert (ada.bot, ada.name, ada.surname) == (bot, "Ada", "Lovelace")
    assert list(Variable.objects.filter(chatuser=ada).values_list("name", "value")) == [("colour", "green")]
    assert sorted(ada.tags.values_list("name", flat=True)) == ["newsletter", "spring fair"]
    assert not ChatUser.objects.filter(name="Bad").exists()


def test_a_dry_run_runs_for_real_with_the_same_settings(
    operator_client: Any, operator: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    dry_run = _draft(operator_client, bot)
    _run(
        operator_client,
        dry_run,
        django_capture_on_commit_callbacks,
        button="_dry_run",
        targets={"Favourite colour": "var:colour"},
        mode="create",
        extra_tags="fair",
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"{HISTORY}{dry_run.pk}/repeat/")

    real = ImportJob.objects.exclude(pk=dry_run.pk).get()
    assert response["Location"] == _progress_url(real)
    assert (real.dry_run, real.status, real.created_by, real.file.name) == (
        False,
        "done",
        operator,
        dry_run.file.name,
    )
    assert (real.mapping, real.mode, real.match_key, real.extra_tags) == (
        dry_run.mapping,
        "create",
        "email",
        ["fair"],
    )
    assert (real.created, real.rejected) == (dry_run.created, dry_run.rejected) == (2, 1)
    assert ChatUser.objects.count() == 2


def test_a_real_import_cannot_be_repeated(
    operator_client: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _draft(operator_client, bot)
    _run(operator_client, job, django_capture_on_commit_callbacks, button="_import")

    response = operator_client.post(f"{HISTORY}{job.pk}/repeat/", follow=True)

    assert [str(message) for message in response.context["messages"]] == [
        "Only a finished dry run can be run for real."
    ]
    assert ImportJob.objects.count() == 1


def test_a_saved_mapping_is_offered_for_the_next_file_of_the_bot(
    operator_client: Any, operator: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first = _draft(operator_client, bot)
    _run(
        operator_client,
        first,
        django_capture_on_commit_callbacks,
        button="_dry_run",
        targets={"Favourite colour": "var:colour"},
        save_as="Fair contacts",
    )
    saved = ImportMapping.objects.get()
    assert (saved.bot, saved.name, saved.created_by) == (bot, "Fair contacts", operator)
    assert saved.columns == first.mapping

    second = ImportJob.objects.get(pk=_upload(operator_client, bot)["Location"].split("/")[-3])
    page = operator_client.get(_mapping_url(second))
    assert "Fair contacts" in page.content.decode()
    response = operator_client.post(_mapping_url(second), {"saved_mapping": saved.pk, "_use_saved": "1"})

    form = response.context["form"]
    assert (form["target_3"].value(), form["variable_3"].value()) == ("var", "colour")
    assert "Mapping “Fair contacts” applied" in response.content.decode()
    second.refresh_from_db()
    assert second.status == "draft"


@pytest.mark.parametrize(
    ("layer", "poll_only"),
    [("channels.layers.InMemoryChannelLayer", "true"), ("channels_redis.core.RedisChannelLayer", "false")],
)
def test_the_progress_page_of_a_running_import_follows_it_live(
    operator_client: Any,
    bot: Any,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
    layer: str,
    poll_only: str,
) -> None:
    job = _draft(operator_client, bot)
    with django_capture_on_commit_callbacks(execute=False):  # queued, no worker picks it up
        operator_client.post(_mapping_url(job), {**_mapping_data(job), "_import": "1"})
    job.refresh_from_db()

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": layer}}
    page = operator_client.get(_progress_url(job)).content.decode()

    assert job.status == "queued"
    assert "chatusers/import_progress.js" in page
    assert f'data-socket-path="/ws/chatusers/imports/{job.pk}/"' in page
    assert f'data-json-url="{HISTORY}{job.pk}/progress.json"' in page
    # An in-process layer never carries a worker's messages: the page polls from the start.
    assert f'data-poll-only="{poll_only}"' in page
    assert 'value="Cancel the import"' in page


def test_the_progress_json_gives_the_counts_so_far(operator_client: Any, operator: Any, bot: Any) -> None:
    job = ImportJob.objects.create(
        bot=bot,
        created_by=operator,
        original_name="a.csv",
        header=["email"],
        status="running",
        rows_total=1000,
        rows_done=400,
        created=300,
        updated=50,
        unchanged=40,
        rejected=10,
    )

    progress = operator_client.get(f"{HISTORY}{job.pk}/progress.json").json()

    assert set(progress) == PROGRESS_KEYS
    assert {key: progress[key] for key in PROGRESS_KEYS - {"rate_per_s", "eta_s"}} == {
        "status": "running",
        "rows_done": 400,
        "rows_total": 1000,
        "created": 300,
        "updated": 50,
        "unchanged": 40,
        "rejected": 10,
    }


def test_cancel_asks_a_running_import_to_stop(operator_client: Any, operator: Any, bot: Any) -> None:
    job = ImportJob.objects.create(
        bot=bot, created_by=operator, original_name="a.csv", header=["email"], status="running"
    )

    response = operator_client.post(f"{HISTORY}{job.pk}/cancel/", follow=True)

    job.refresh_from_db()
    assert job.cancel_requested is True
    assert [str(message) for message in response.context["messages"]] == [
        "Cancelling: the import stops after the rows it is writing now."
    ]
    assert operator_client.get(f"{HISTORY}{job.pk}/cancel/").status_code == 405


# --- history and undo ----------------------------------------------------------------------------


def test_the_history_lists_imports_read_only_for_a_viewer(
    operator_client: Any, viewer: Any, bot: Any, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _draft(operator_client, bot)
    _run(operator_client, job, django_capture_on_commit_callbacks, button="_import")
    client.force_login(viewer)

    page = client.get(HISTORY).content.decode()

    assert "contacts.csv" in page
    assert f"{HISTORY}{job.pk}/rejected.csv" in page
    assert f"{HISTORY}{job.pk}/undo/" not in page
    assert "/admin/chatusers/importjob/add/" not in page
    assert client.get(f"{HISTORY}{job.pk}/change/")["Location"] == _progress_url(job)
    assert client.get(f"{HISTORY}add/").status_code == 403
    progress = client.get(_progress_url(job)).content.decode()
    assert "Undo this import" not in progress and "Cancel the import" not in progress


def test_the_rejected_rows_download_as_csv(
    operator_client: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _draft(operator_client, bot)
    _run(operator_client, job, django_capture_on_commit_callbacks, button="_dry_run")

    response = operator_client.get(f"{HISTORY}{job.pk}/rejected.csv")
    content = b"".join(response.streaming_content).decode()

    assert response["Content-Disposition"] == 'attachment; filename="contacts-rejected-rows.csv"'
    assert "not-an-email" in content
    assert len(content.strip().splitlines()) == 2


def test_undo_says_what_it_will_do_then_deletes_and_restores(
    operator_client: Any, operator: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    ChatUserFactory(bot=bot, email="grace@example.com", name="Grace", surname="H.")
    job = _draft(operator_client, bot)
    _run(operator_client, job, django_capture_on_commit_callbacks, button="_import")
    assert (job.created, job.updated) == (1, 1)

    confirmation = operator_client.get(f"{HISTORY}{job.pk}/undo/")
    page = confirmation.content.decode()
    assert confirmation.context["touched"] == {"to_delete": 1, "to_restore": 1}
    assert "Delete the <strong>1</strong> chat user it created." in page
    assert "Restore the <strong>1</strong> chat user it changed" in page
    assert ChatUser.objects.count() == 2  # a look at the page changes nothing

    response = operator_client.post(f"{HISTORY}{job.pk}/undo/", follow=True)

    job.refresh_from_db()
    assert job.status == "undone"
    assert list(ChatUser.objects.values_list("email", "surname")) == [("grace@example.com", "H.")]
    assert [str(message) for message in response.context["messages"]] == [
        "Import undone: 1 deleted, 1 restored."
    ]
    assert ImportChange.objects.filter(job=job).count() == 2
    assert LogEntry.objects.filter(user=operator).exists()


def test_a_dry_run_cannot_be_undone(
    operator_client: Any, bot: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = _draft(operator_client, bot)
    _run(operator_client, job, django_capture_on_commit_callbacks, button="_dry_run")

    response = operator_client.post(f"{HISTORY}{job.pk}/undo/", follow=True)

    assert [str(message) for message in response.context["messages"]] == ["This import cannot be undone."]
    job.refresh_from_db()
    assert job.status == "done"


# --- the progress WebSocket -----------------------------------------------------------------------


def _connect(user: Any, job_id: int) -> WebsocketCommunicator:
    """A communicator to the progress socket of ``job_id``, as ``user``."""
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/chatusers/imports/{job_id}/")
    communicator.scope["user"] = user
    return communicator


def test_the_progress_socket_forwards_the_imports_messages(operator: Any, bot: Any) -> None:
    job = ImportJob.objects.create(
        bot=bot, created_by=operator, original_name="a.csv", header=["email"], status="queued"
    )
    message = {
        "status": "running",
        "rows_done": 500,
        "rows_total": 2000,
        "created": 480,
        "updated": 10,
        "unchanged": 5,
        "rejected": 5,
        "rate_per_s": 2500.0,
        "eta_s": 0.6,
    }

    async def scenario() -> tuple[bool, dict[str, Any], dict[str, Any]]:
        communicator = _connect(operator, job.pk)
        connected, _ = await communicator.connect()
        first = await communicator.receive_json_from(timeout=2)
        await get_channel_layer().group_send(
            f"chatuser-import-{job.pk}", {"type": "import.progress", **message}
        )
        forwarded = await communicator.receive_json_from(timeout=2)
        await communicator.disconnect()
        return connected, first, forwarded

    connected, first, forwarded = async_to_sync(scenario)()

    assert connected is True
    assert (set(first), first["status"], first["rows_done"]) == (PROGRESS_KEYS, "queued", 0)
    assert forwarded == message


@pytest.mark.parametrize("who", ["anonymous", "no permission"])
def test_the_progress_socket_refuses_who_may_not_see_the_import(operator: Any, bot: Any, who: str) -> None:
    job = ImportJob.objects.create(bot=bot, created_by=operator, original_name="a.csv", header=["email"])
    user = AnonymousUser() if who == "anonymous" else UserFactory(username="nobody")

    async def scenario() -> tuple[bool, int | None, bool]:
        communicator = _connect(user, job.pk)
        connected, code = await communicator.connect()
        await get_channel_layer().group_send(f"chatuser-import-{job.pk}", {"type": "import.progress"})
        silent = await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()
        return connected, code, silent

    assert async_to_sync(scenario)() == (False, 4403, True)


def test_the_progress_socket_of_an_unknown_import_is_refused(operator: Any) -> None:
    async def scenario() -> tuple[bool, int | None]:
        communicator = _connect(operator, 999_999)
        refused = await communicator.connect()
        await communicator.disconnect()
        return refused

    assert async_to_sync(scenario)() == (False, 4403)
