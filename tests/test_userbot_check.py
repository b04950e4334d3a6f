"""``userbot_check``: the handshake against a real server, and clear errors when it fails."""

import socket

import pytest
from django.core.management import CommandError, call_command

from backoffice.userbot.models import Bot
from tests.conftest import APIKEY, SITEKEY

pytestmark = pytest.mark.django_db


def _bot(url: str, apikey: str = APIKEY, sitekey: str = SITEKEY) -> Bot:
    call_command("add_bot", name="Sandbox", url=url, apikey=apikey, sitekey=sitekey)
    return Bot.objects.get(sitekey=sitekey)


def test_userbot_check_prints_who_we_are_and_the_bot_name(sandbox, capsys):
    _bot(sandbox.url)
    capsys.readouterr()

    call_command("userbot_check", bot=SITEKEY)

    out = capsys.readouterr().out
    account = sandbox.store.accounts[APIKEY]
    assert out.strip() == (
        f"Connected to {sandbox.url} as {account.name} <{account.email}> "
        f"(user {account.user_id}, role {account.role}); bot: {sandbox.store.bots[SITEKEY].name}"
    )
    assert APIKEY not in out


def test_userbot_check_reports_a_refused_key_without_showing_it(sandbox, caplog):
    _bot(sandbox.url, apikey="wrong-key-123")

    with pytest.raises(CommandError) as refused:
        call_command("userbot_check", bot=SITEKEY)

    assert str(refused.value) == f"{sandbox.url} refused: 401 unauthenticated: unknown API key"
    assert "wrong-key-123" not in caplog.text


def test_userbot_check_reports_a_bot_the_account_cannot_open(sandbox):
    _bot(sandbox.url, sitekey="someone-elses-bot")

    with pytest.raises(CommandError, match=r"refused: 403 forbidden"):
        call_command("userbot_check", bot="someone-elses-bot")


def test_userbot_check_reports_an_unreachable_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    _bot(f"ws://127.0.0.1:{port}/")

    with pytest.raises(CommandError, match=rf"Cannot reach ws://127.0.0.1:{port}/"):
        call_command("userbot_check", bot=SITEKEY, timeout=2)


def test_userbot_check_names_an_unknown_sitekey():
    with pytest.raises(CommandError) as unknown:
        call_command("userbot_check", bot="nope")

    assert str(unknown.value) == "No bot with sitekey 'nope'; add it with add_bot."
