"""A back office as a new operator finds it: one bot with chat users whose names and emails
run long, tags, a variable catalogue, segments, a knowledge base, a conflict, a dead letter
and a chat user Userbot deleted while a change waited. The operator admin's browser tests
and their screenshots start from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone

from backoffice.sync.actor import sync_actor
from backoffice.sync.gone import objects_gone
from backoffice.sync.models import BotSync
from backoffice.sync.outbox import mark_changed
from backoffice.userbot.models import Bot
from chatusers.models import (
    BotVariable,
    ChatUser,
    ChatUserSync,
    ChatUserTag,
    Segment,
    SegmentFilter,
    Tag,
    Variable,
)
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory, TagFactory
from tests.factories_content import InteractionFactory
from tests.sync_helpers import LABEL, dead_entry, in_conflict

PEOPLE = [
    (
        "Alessandra",
        "Della Gherardesca Montefeltro",
        "alessandra.dellagherardesca-montefeltro@example-holding.com",
    ),
    ("Bartholomew", "Fitzgerald-Wellington", "bartholomew.fitzgerald.wellington@longcompanyname.example"),
    ("Chiara", "Bianchi", "chiara.bianchi@example.com"),
    ("Dario", "Rossi", "dario@example.com"),
    ("Elena", "Ferrari", "elena.ferrari@example.org"),
    ("Fabio", "Russo", "fabio.russo@example.net"),
    ("Giulia", "Romano", "giulia.romano@example.com"),
    ("Ivo", "Colombo", "ivo.colombo@example.com"),
    ("Laura", "Ricci", "laura.ricci@example.com"),
    ("Marco", "Marino", "marco.marino@example.com"),
    ("Nadia", "Greco", "nadia.greco@example.com"),
    ("Paola", "Bruno", "paola.bruno@example.com"),
]
CHANNELS = ["webchat", "whatsapp", "telegram", "messenger"]
LANGUAGES = ["it", "en", "it", "de"]


@dataclass
class World:
    bot: Bot
    alessandra: ChatUser
    conflicted: ChatUser
    dead: ChatUser
    deleted_on_userbot: ChatUser
    segment: Segment


def operator_world() -> World:
    # The roles' migration made groups, but a transactional test before may have flushed them.
    Group.objects.get_or_create(name="viewer")
    bot = BotFactory(name="Shop", sitekey="shop")
    bot_sync, _ = BotSync.objects.get_or_create(bot=bot)
    BotSync.objects.filter(pk=bot_sync.pk).update(pull_finished_at=timezone.now() - timedelta(minutes=3))
    tags = [
        TagFactory(bot=bot, name=name, color=color)
        for name, color in (
            ("vip", "#c0392b"),
            ("newsletter", "#1e88e5"),
            ("returning-customer", "#2e7d32"),
            ("black-friday-2025", "#6a1b9a"),
        )
    ]
    for name, kind in (("city", "string"), ("plan", "string"), ("birthday", "date")):
        BotVariable.objects.create(bot=bot, name=name, type=kind)
    now = timezone.now()
    people = []
    for index, (name, surname, email) in enumerate(PEOPLE):
        person = ChatUserFactory(
            bot=bot,
            name=name,
            surname=surname,
            email=email,
            phone=f"+39333123{index:04d}",
            channel=CHANNELS[index % 4],
            language=LANGUAGES[index % 4],
            last_seen_at=now - timedelta(minutes=7 * index * index + 3, microseconds=123_456),
            synced_at=now - timedelta(hours=index + 1),
        )
        for tag in tags[: 1 + index % 4]:
            ChatUserTag.objects.create(chatuser=person, tag=tag)
        people.append(person)
    Variable.objects.create(chatuser=people[0], name="city", value="Florence")
    Variable.objects.create(chatuser=people[0], name="plan", value="gold")
    conflicted = people[3]
    in_conflict(conflicted, ("name", "Dario", "Dario", "Darius"))
    dead = people[4]
    dead_entry(dead)
    deleted = ChatUserFactory(
        bot=bot, name="Ugo", surname="Gallo", email="ugo@example.com", remote_id="r-ugo", synced_snapshot={}
    )
    ChatUserSync.objects.filter(pk=deleted.pk).update(synced_snapshot={"name": "Ugo"})
    deleted.refresh_from_db()
    mark_changed([deleted])
    objects_gone(label=LABEL, bot_sync=BotSync.objects.get(bot=bot), pks=[deleted.pk], actor=sync_actor())
    segment = SegmentFactory(bot=bot, name="Italian VIPs")
    SegmentFilter.objects.create(segment=segment, position=0, field="language", op="eq", value="it")
    SegmentFilter.objects.create(
        segment=segment, position=1, field="tag", op="eq", value="vip", tag=Tag.objects.get(name="vip")
    )
    SegmentFactory(bot=bot, name="Everyone")
    for language in ("en", "it", "it", "de"):
        InteractionFactory(bot=bot, language=language)
    # Figures a page counted before the world was made (the login's landing on the index)
    # would be shown for a while yet.
    cache.clear()
    return World(bot, people[0], conflicted, dead, deleted, segment)
