"""``manage.py import_chatusers``: the same import from a shell, with a progress bar."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from backoffice.sync.models import OutboxEntry
from chatusers.import_models import ImportJob, ImportMapping
from chatusers.models import ChatUser
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def admin_user() -> Any:
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "x")


def _call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_chatusers", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_imports_and_prints_counts_progress_and_the_rejected_file(
    admin_user: Any, tmp_path: Path
) -> None:
    bot = BotFactory(sitekey="shop")
    source = tmp_path / "contacts.csv"
    source.write_text("name,email,Notes\nAda,ada@example.com,x\nBob,bob@,y\nCarl,carl@example.com,z\n")

    out, err = _call(str(source), "--bot", "shop", "--tag", "fair", "--tag", "2026")

    job = ImportJob.objects.get()
    assert out.splitlines() == [
        "Done: 2 created, 0 updated, 0 unchanged, 1 rejected of 3 rows (done).",
        f"Rejected rows: {job.rejected_file.path}",
    ]
    assert "Skipped columns: Notes" in err
    assert "\r[##############################] 3/3 rows" in err
    assert sorted(ChatUser.objects.filter(bot=bot).values_list("email", flat=True)) == [
        "ada@example.com",
        "carl@example.com",
    ]
    assert sorted(ChatUser.objects.get(email="ada@example.com").tags.values_list("name", flat=True)) == [
        "2026",
        "fair",
    ]
    assert (job.created_by, job.extra_tags) == (admin_user, ["fair", "2026"])


def test_command_dry_run_writes_nothing(admin_user: Any, tmp_path: Path) -> None:
    BotFactory(sitekey="shop")
    source = tmp_path / "contacts.csv"
    source.write_text("email\nada@example.com\n")

    out, _ = _call(str(source), "--bot", "shop", "--dry-run")

    assert out.splitlines() == [
        "Dry run, nothing written: 1 created, 0 updated, 0 unchanged, 0 rejected of 1 rows (done)."
    ]
    assert (ChatUser.objects.count(), OutboxEntry.objects.count()) == (0, 0)


def test_command_uses_a_saved_mapping_and_the_chosen_key(admin_user: Any, tmp_path: Path) -> None:
    bot = BotFactory(sitekey="shop")
    ChatUser.objects.create(bot=bot, name="Ada", phone="+393331234567")
    ImportMapping.objects.create(
        bot=bot, name="crm", columns={"Mobile no": "phone", "Nome": "name"}, created_by=admin_user
    )
    source = tmp_path / "crm.csv"
    source.write_text("Nome,Mobile no\nAugusta,+393331234567\n")

    out, _ = _call(
        str(source),
        "--bot",
        "shop",
        "--mapping",
        "crm",
        "--key",
        "phone",
        "--mode",
        "update",
        "--fill-blanks",
    )

    assert out.splitlines()[0] == "Done: 0 created, 0 updated, 1 unchanged, 0 rejected of 1 rows (done)."


def test_command_refuses_an_unreadable_file_with_its_message(admin_user: Any, tmp_path: Path) -> None:
    BotFactory(sitekey="shop")
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")

    with pytest.raises(CommandError, match=r"^The file is empty\.$"):
        _call(str(source), "--bot", "shop")
    assert ImportJob.objects.count() == 0


def test_command_refuses_an_unknown_bot(admin_user: Any, tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("email\na@example.com\n")

    with pytest.raises(CommandError, match="No bot has the sitekey nope"):
        _call(str(source), "--bot", "nope")


def _stored_uploads() -> list[str]:
    folder = Path(django_settings.MEDIA_ROOT) / "imports"
    return sorted(path.name for path in folder.iterdir() if path.is_file()) if folder.exists() else []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--key", "phone"], "match_key: Matching by phone needs a column mapped to phone."),
        (["--mapping", "nope"], "The bot has no saved mapping named nope"),
    ],
)
def test_a_command_whose_options_fail_leaves_no_draft_nor_file(
    admin_user: Any, tmp_path: Path, options: list[str], message: str
) -> None:
    BotFactory(sitekey="shop")
    source = tmp_path / "contacts.csv"
    source.write_text("email\nada@example.com\n")

    with pytest.raises(CommandError) as failed:
        _call(str(source), "--bot", "shop", *options)

    assert str(failed.value) == message
    assert ImportJob.objects.count() == 0
    assert _stored_uploads() == []


def test_the_command_refuses_a_symbolic_link_and_copies_nothing(admin_user: Any, tmp_path: Path) -> None:
    BotFactory(sitekey="shop")
    target = tmp_path / "secret.csv"
    target.write_text("email\nada@example.com\n")
    link = tmp_path / "contacts.csv"
    link.symlink_to(target)

    with pytest.raises(CommandError) as refused:
        _call(str(link), "--bot", "shop")

    assert str(refused.value) == f"{link} is a symbolic link: give the path of the file itself."
    assert (ImportJob.objects.count(), ChatUser.objects.count(), _stored_uploads()) == (0, 0, [])


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_the_command_refuses_anything_but_a_regular_file(admin_user: Any, tmp_path: Path, kind: str) -> None:
    BotFactory(sitekey="shop")
    if kind == "directory":
        path, expected = tmp_path / "folder", "is a directory"
        path.mkdir()
    elif kind == "fifo":
        path, expected = tmp_path / "pipe.csv", "is not a regular file"
        os.mkfifo(path)
    else:
        path, expected = Path("/dev/null"), "is not a regular file"

    with pytest.raises(CommandError) as refused:
        _call(str(path), "--bot", "shop")

    assert str(refused.value) == f"{path} {expected}: give the path of a CSV file."
    assert (ImportJob.objects.count(), _stored_uploads()) == (0, [])


def test_the_command_says_when_there_is_no_file(admin_user: Any, tmp_path: Path) -> None:
    BotFactory(sitekey="shop")

    with pytest.raises(CommandError, match=r"^No file at .*missing\.csv$"):
        _call(str(tmp_path / "missing.csv"), "--bot", "shop")
