import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from backoffice.userbot import crypto
from backoffice.userbot.models import Bot

APIKEY = "sk-live-4f1c2d9e8b7a"

pytestmark = pytest.mark.django_db


def test_add_bot_stores_the_key_encrypted_and_can_reveal_it():
    call_command("add_bot", name="Shop", url="wss://ai.userbot.ai/", apikey=APIKEY, sitekey="shop-1")

    bot = Bot.objects.get(sitekey="shop-1")
    assert bot.name == "Shop"
    assert bot.reveal_apikey() == APIKEY
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM userbot_bot")
        stored = " ".join(str(value) for value in cursor.fetchone())
    assert APIKEY not in stored


def test_add_bot_updates_the_bot_of_an_existing_sitekey(capsys):
    call_command("add_bot", name="Shop", url="wss://ai.userbot.ai/", apikey=APIKEY, sitekey="shop-1")
    call_command("add_bot", name="Shop EU", url="wss://eu.example.test/", apikey="other", sitekey="shop-1")

    bot = Bot.objects.get()
    assert (bot.name, bot.server_url, bot.reveal_apikey()) == ("Shop EU", "wss://eu.example.test/", "other")
    assert capsys.readouterr().out.splitlines() == [
        "Created bot Shop (shop-1)",
        "Updated bot Shop EU (shop-1)",
    ]


def test_add_bot_refuses_a_url_that_is_not_a_websocket():
    with pytest.raises(CommandError, match="server_url"):
        call_command("add_bot", name="Shop", url="http://ai.userbot.ai/", apikey=APIKEY, sitekey="shop-1")
    assert not Bot.objects.exists()


def test_a_key_encrypted_under_another_secret_is_reported_not_returned(settings):
    bot = Bot(name="Shop", sitekey="shop-1", server_url="wss://ai.userbot.ai/")
    bot.set_apikey(APIKEY)
    settings.FIELD_ENCRYPTION_KEYS = ["Hc2bXQ5o3bJ2cQ3mYp1n8XoE6tJ0Qv7wL9sZk4aR1uI="]

    with pytest.raises(crypto.SecretUnreadable, match="cannot be decrypted"):
        bot.reveal_apikey()


def test_the_admin_never_shows_the_key_back(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.test", "pw-123456789")
    client.force_login(admin)
    call_command("add_bot", name="Shop", url="wss://ai.userbot.ai/", apikey=APIKEY, sitekey="shop-1")
    bot = Bot.objects.get()

    page = client.get(f"/admin/userbot/bot/{bot.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert APIKEY not in html
    assert bot.apikey_ciphertext not in html
    assert "Leave blank to keep the current key" in html


def test_the_admin_keeps_the_key_when_the_field_is_left_blank(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.test", "pw-123456789")
    client.force_login(admin)
    call_command("add_bot", name="Shop", url="wss://ai.userbot.ai/", apikey=APIKEY, sitekey="shop-1")
    bot = Bot.objects.get()

    response = client.post(
        f"/admin/userbot/bot/{bot.pk}/change/",
        {"name": "Shop renamed", "sitekey": "shop-1", "server_url": "wss://ai.userbot.ai/", "apikey": ""},
    )

    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.name, bot.reveal_apikey()) == ("Shop renamed", APIKEY)


def test_the_admin_requires_a_key_for_a_new_bot(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.test", "pw-123456789")
    client.force_login(admin)

    response = client.post(
        "/admin/userbot/bot/add/",
        {"name": "Shop", "sitekey": "shop-1", "server_url": "wss://ai.userbot.ai/", "apikey": ""},
    )

    assert response.status_code == 200
    assert "A new bot needs an API key." in response.content.decode()
    assert not Bot.objects.exists()


def test_add_bot_reads_the_key_from_the_environment_so_it_stays_off_the_command_line(monkeypatch):
    monkeypatch.setenv("USERBOT_APIKEY", " from-env ")

    call_command("add_bot", name="Shop", url="wss://ai.userbot.ai/", sitekey="shop-1")

    assert Bot.objects.get(sitekey="shop-1").reveal_apikey() == "from-env"


def test_add_bot_reads_the_key_from_standard_input_without_one_in_the_environment(monkeypatch):
    monkeypatch.delenv("USERBOT_APIKEY", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("piped-key\n"))

    call_command("add_bot", name="Shop", url="wss://ai.userbot.ai/", sitekey="shop-1")

    assert Bot.objects.get(sitekey="shop-1").reveal_apikey() == "piped-key"


def test_add_bot_without_any_key_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("USERBOT_APIKEY", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    with pytest.raises(CommandError, match="set USERBOT_APIKEY"):
        call_command("add_bot", name="Shop", url="wss://ai.userbot.ai/", sitekey="shop-1")
    assert not Bot.objects.exists()
