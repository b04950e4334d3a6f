"""A Userbot server that echoes the API key in its errors: nothing stored, logged or shown holds it.

The sandbox here answers some operations with an error quoting the key the connection
logged in with, as a careless server might. The sync then runs for real (push, pull, the
bot check) and every row of the database, every log record and the admin pages are
searched for the key.
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from backoffice.sync.models import BotSync, OutboxEntry
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot import codec
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.errors import Forbidden, Unauthenticated
from backoffice.userbot.models import Bot
from backoffice.userbot.redaction import MASK, SecretsFilter
from chatusers import services
from sandbox.answers import Answer
from sandbox.runner import SandboxHandle, start_sandbox
from sandbox.session import Session

pytestmark = pytest.mark.django_db(transaction=True)

APIKEY = "sk-live-7Hq2x-must-never-show"
OLD_APIKEY = "sk-old-4Zp9w-must-never-show"
SITEKEY = "echo-bot"
ROOT = Path(__file__).resolve().parent.parent


class EchoingSandbox:
    """The sandbox, except that the operations in ``echoing`` answer an error quoting the key."""

    def __init__(self, handle: SandboxHandle) -> None:
        self.handle = handle
        self.echoing: dict[str, int] = {}  # operation -> status of the echoing error
        self._answer = handle.server.answer
        handle.server.answer = self.answer  # type: ignore[method-assign]

    def answer(self, session: Session, frame: str | bytes) -> tuple[Answer, bool]:
        channel = codec.channel_hint(frame)
        if channel == "apiLogin":
            key = codec.parse_payload(codec.read_operation(frame))["apikey"]
            if key not in self.handle.store.accounts:
                return self._error(channel, 401, "unauthenticated", f"unknown API key {key}"), False
        status = self.echoing.get(channel)
        if status is None or session.account is None:
            return self._answer(session, frame)
        key = session.account.apikey
        return self._error(channel, status, "invalid", f"account {key} may not do this", {"0": key}), False

    @staticmethod
    def _error(channel: str, status: int, code: str, message: str, fields: Any = None) -> Answer:
        frame = codec.encode_error(channel, status, code, message, fields=fields)
        return Answer(frame.encode(), status)


@pytest.fixture
def echoing() -> Iterator[EchoingSandbox]:
    with start_sandbox(apikeys=(APIKEY,), sitekeys=(SITEKEY,)) as handle:
        yield EchoingSandbox(handle)


@pytest.fixture
def echo_bot(echoing: EchoingSandbox) -> Bot:
    bot = Bot(name="Echo bot", sitekey=SITEKEY, server_url=echoing.handle.url)
    bot.set_apikey(APIKEY)
    bot.save()
    return bot


def rows_holding(text: str) -> list[str]:
    """Every row of every table (as its model's label and primary key) that holds ``text``."""
    found = []
    for model in apps.get_models():
        for row in model._base_manager.values_list():
            if text in repr(row):
                found.append(f"{model._meta.label} #{row[0]}")
    return found


def test_a_push_refused_with_the_key_in_its_error_stores_and_logs_it_masked(
    echoing, echo_bot, operator, caplog, admin_client
):
    caplog.set_level(logging.INFO)
    echoing.echoing["chatusers.create"] = 400
    chatuser = services.chatuser_create(bot=echo_bot, actor=operator, name="Ada", email="ada@example.com")

    report = push_pending(echo_bot)

    assert report.dead == 1
    entry = OutboxEntry.objects.get()
    chatuser.refresh_from_db()
    assert MASK in entry.last_error
    assert chatuser.sync_error == entry.last_error
    assert rows_holding(APIKEY) == []
    assert MASK in caplog.text and APIKEY not in caplog.text
    pages = [
        f"/admin/sync/outboxentry/{entry.pk}/change/",
        "/admin/sync/outboxentry/",
        f"/admin/chatusers/chatuser/{chatuser.pk}/change/",
        "/admin/chatusers/chatuser/",
        f"/admin/userbot/bot/{echo_bot.pk}/change/",
    ]
    html = {page: admin_client.get(page).content.decode() for page in pages}
    assert [page for page, text in html.items() if APIKEY in text] == []
    assert MASK in html[f"/admin/sync/outboxentry/{entry.pk}/change/"]


def test_a_pull_failing_with_the_key_in_its_error_stores_and_shows_it_masked(
    echoing, echo_bot, caplog, admin_client
):
    caplog.set_level(logging.INFO)
    echoing.echoing["chatusers.get"] = 500

    pull_bot(echo_bot)

    state = BotSync.objects.get(bot=echo_bot)
    assert f"account {MASK} may not do this" in state.pull_error
    assert rows_holding(APIKEY) == []
    assert MASK in caplog.text and APIKEY not in caplog.text
    page = admin_client.get(f"/admin/sync/botsync/{state.pk}/change/").content.decode()
    listing = admin_client.get("/admin/sync/botsync/").content.decode()
    assert f"account {MASK} may not do this" in page
    assert APIKEY not in page and APIKEY not in listing


def test_a_refused_login_that_echoes_the_old_key_is_stored_and_reported_masked(echoing, echo_bot, caplog):
    caplog.set_level(logging.INFO)
    echo_bot.set_apikey(OLD_APIKEY)
    echo_bot.save()

    with pytest.raises(Unauthenticated) as refused:
        pull_bot(echo_bot)
    with pytest.raises(CommandError) as checked:
        call_command("userbot_check", "--bot", SITEKEY, "--timeout", "5")

    assert str(refused.value) == f"apiLogin: 401 unauthenticated: unknown API key {MASK}"
    assert str(checked.value).endswith(f"refused: 401 unauthenticated: unknown API key {MASK}")
    assert BotSync.objects.get(bot=echo_bot).pull_error == f"Unauthenticated: {refused.value}"
    assert rows_holding(OLD_APIKEY) == []
    assert OLD_APIKEY not in caplog.text


def test_an_echoed_key_is_masked_in_the_fields_code_and_channel_of_an_answer(echoing):
    echoing.echoing["chatusers.get-bot-tags"] = 403

    with UserbotClient(echoing.handle.url, APIKEY, SITEKEY, heartbeat=0) as client:
        [outcome] = list(client.iter_many([codec.Request("chatusers.get-bot-tags")]))
        with pytest.raises(Forbidden) as raised:
            client.call(codec.Request("chatusers.get-bot-tags"))

    assert outcome.error is not None
    assert (outcome.error.message, outcome.error.fields) == (f"account {MASK} may not do this", {"0": MASK})
    assert APIKEY not in repr(outcome) and APIKEY not in str(raised.value)


# --- the log filter, behind the client ------------------------------------------------------


@pytest.fixture
def filtered_log() -> Iterator[tuple[logging.Logger, list[str]]]:
    """A logger whose one handler goes through SecretsFilter and keeps what it writes."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.addFilter(SecretsFilter())
    log = logging.getLogger("tests.secrets")
    log.addHandler(handler)
    log.propagate = False
    yield log, lines
    log.removeHandler(handler)
    log.propagate = True


def test_the_log_filter_masks_a_live_clients_key_and_any_login_frame(filtered_log):
    log, lines = filtered_log
    client = UserbotClient("ws://127.0.0.1:9/", APIKEY, SITEKEY, heartbeat=0)
    try:
        raise RuntimeError(f"a library quoted {APIKEY}")
    except RuntimeError:
        log.exception("sending %s failed", orjson.dumps({"frame": f"apiLogin {OLD_APIKEY}"}).decode())
    log.warning("plain %s", "words")

    assert APIKEY not in "\n".join(lines) and OLD_APIKEY not in "\n".join(lines)
    assert lines[0].startswith(f'sending {{"frame":"apiLogin {MASK}"}} failed\nTraceback')
    assert lines[0].endswith(f"RuntimeError: a library quoted {MASK}")
    assert lines[1] == "plain words"
    client.close()


def test_the_log_filter_forgets_a_key_once_no_client_holds_it(filtered_log):
    log, lines = filtered_log
    client = UserbotClient("ws://127.0.0.1:9/", OLD_APIKEY, SITEKEY, heartbeat=0)
    log.warning("held %s", OLD_APIKEY)
    del client
    gc.collect()

    log.warning("gone %s", OLD_APIKEY)

    assert lines == [f"held {MASK}", f"gone {OLD_APIKEY}"]


def test_the_console_log_handler_masks_keys():
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == "console"]

    assert len(handlers) == 1
    assert any(isinstance(f, SecretsFilter) for f in handlers[0].filters)


def test_a_celery_worker_logs_through_the_masking_handler(tmp_path):
    script = (
        "import logging, django; django.setup()\n"
        "from backoffice.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        "print(sorted(type(f).__name__ for h in logging.getLogger().handlers for f in h.filters))\n"
    )
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "backoffice.settings", "BACKOFFICE_DATA_DIR": str(tmp_path)}

    worker = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.strip() == "['SecretsFilter']"
