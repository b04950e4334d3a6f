"""factory_boy factories for test data (one place, shared by every test module)."""

from __future__ import annotations

import factory

from backoffice.userbot.models import Bot


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot
        django_get_or_create = ("sitekey",)

    name = factory.Sequence(lambda n: f"Bot {n}")
    sitekey = factory.Sequence(lambda n: f"bot-{n}")
    server_url = "ws://127.0.0.1:8765/"
    apikey_ciphertext = factory.LazyFunction(lambda: _encrypted("test-key"))


def _encrypted(apikey: str) -> str:
    from backoffice.userbot import crypto

    return crypto.encrypt(apikey)


# --- chat users ----------------------------------------------------------------------


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "chatusers.Tag"

    bot = factory.SubFactory(BotFactory)
    name = factory.Sequence(lambda n: f"tag-{n}")
    color = "#1e88e5"


class ChatUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "chatusers.ChatUser"

    bot = factory.SubFactory(BotFactory)
    name = factory.Sequence(lambda n: f"Name{n}")
    surname = "Rossi"
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    channel = "webchat"
    language = "it"
    sync_state = "synced"


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "chatusers.Segment"

    bot = factory.SubFactory(BotFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")
    match = "all"
    sync_state = "synced"
