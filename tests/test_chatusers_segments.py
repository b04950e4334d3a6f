"""Segment counts computed in the database agree with the sandbox's definition, case for case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chatusers.models import ChatUser, ChatUserTag, Tag, Variable
from chatusers.selectors import segment_queryset
from sandbox.segments import matches
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

# (name, surname, email, channel, language, created_at, last_seen_at, tags, variables)
PEOPLE: list[tuple[Any, ...]] = [
    ("Ada", "L", "Ada@Example.com", "webchat", "en", "2026-01-01T00:00:00Z", None, ["vip"], {"age": "36"}),
    ("Bob", "M", None, "whatsapp", "it", "2026-01-02T12:00:00.000Z", "2026-03-01T09:00:00.000Z", [], {}),
    ("Cy", "", "cy@test.org", "api", "", "2026-01-03T00:00:00.500Z", None, ["vip", "new"], {"age": "9"}),
    ("Di", "N", "", "telegram", "FR", "2026-02-01T00:00:00.000Z", "2026-02-15T00:00:00.000Z", ["new"], {}),
    ("Ed", "O", "ed@example.com", "api", "de", "2026-02-02T00:00:00.000Z", None, [], {"age": "-2.5"}),
    ("Flo", "P", "flo@x.io", "webchat", "en", "2026-03-01T00:00:00.000Z", None, [], {"age": "Ten"}),
    ("Gus", "Q", None, "api", "en", "2026-03-02T00:00:00.000Z", None, [], {"age": "", "city": "Roma"}),
    ("Hal", "R", "hal@x.io", "instagram", "es", "2026-03-03T00:00:00.000Z", None, ["old"], {"age": "100.0"}),
    ("Ivy", "S", None, "api", "", "2026-03-04T00:00:00.000Z", None, [], {"city": "ROMA nord", "age": "+7"}),
]

CASES: list[tuple[str, list[dict[str, str]]]] = [
    ("all", []),
    ("any", []),
    ("all", [{"field": "tag", "op": "eq", "value": "vip"}]),
    ("all", [{"field": "tag", "op": "neq", "value": "vip"}]),
    ("all", [{"field": "tag", "op": "exists"}]),
    ("all", [{"field": "tag", "op": "not_exists"}]),
    ("any", [{"field": "tag", "op": "eq", "value": "old"}, {"field": "tag", "op": "eq", "value": "new"}]),
    ("all", [{"field": "tag", "op": "eq", "value": "vip"}, {"field": "tag", "op": "eq", "value": "new"}]),
    ("all", [{"field": "variable", "name": "age", "op": "exists"}]),
    ("all", [{"field": "variable", "name": "age", "op": "not_exists"}]),
    ("all", [{"field": "variable", "name": "age", "op": "eq", "value": "ten"}]),
    ("all", [{"field": "variable", "name": "age", "op": "neq", "value": "36"}]),
    ("all", [{"field": "variable", "name": "city", "op": "contains", "value": "rOm"}]),
    ("all", [{"field": "variable", "name": "age", "op": "gt", "value": "10"}]),
    ("all", [{"field": "variable", "name": "age", "op": "lt", "value": "10"}]),
    ("all", [{"field": "variable", "name": "age", "op": "gt", "value": "-3"}]),
    ("all", [{"field": "variable", "name": "age", "op": "lt", "value": "100"}]),
    ("all", [{"field": "variable", "name": "age", "op": "gt", "value": "a"}]),
    ("all", [{"field": "variable", "name": "age", "op": "lt", "value": "T"}]),
    ("all", [{"field": "variable", "name": "age", "op": "gt", "value": "1e3"}]),
    ("all", [{"field": "channel", "op": "eq", "value": "API"}]),
    ("all", [{"field": "channel", "op": "neq", "value": "api"}]),
    ("all", [{"field": "channel", "op": "contains", "value": "chat"}]),
    ("all", [{"field": "language", "op": "eq", "value": "fr"}]),
    ("all", [{"field": "language", "op": "exists"}]),
    ("all", [{"field": "language", "op": "not_exists"}]),
    ("all", [{"field": "email", "op": "contains", "value": "EXAMPLE"}]),
    ("all", [{"field": "email", "op": "eq", "value": "ada@example.COM"}]),
    ("all", [{"field": "email", "op": "neq", "value": "ada@example.com"}]),
    ("all", [{"field": "email", "op": "exists"}]),
    ("all", [{"field": "email", "op": "not_exists"}]),
    ("all", [{"field": "created_at", "op": "gt", "value": "2026-01-03"}]),
    ("all", [{"field": "created_at", "op": "lt", "value": "2026-01-03T00:00:00.500Z"}]),
    ("all", [{"field": "created_at", "op": "gt", "value": "2026-01-03T00:00:00.500Z"}]),
    ("all", [{"field": "last_seen_at", "op": "gt", "value": "2026-02-20"}]),
    ("all", [{"field": "last_seen_at", "op": "lt", "value": "2026-02-20T00:00:00+00:00"}]),
    ("all", [{"field": "last_seen_at", "op": "exists"}]),
    ("all", [{"field": "last_seen_at", "op": "not_exists"}]),
    (
        "any",
        [
            {"field": "email", "op": "not_exists"},
            {"field": "variable", "name": "age", "op": "gt", "value": "50"},
            {"field": "tag", "op": "eq", "value": "old"},
        ],
    ),
    (
        "all",
        [
            {"field": "channel", "op": "eq", "value": "api"},
            {"field": "variable", "name": "age", "op": "neq", "value": "9"},
            {"field": "tag", "op": "neq", "value": "vip"},
        ],
    ),
]


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def population() -> tuple[Any, dict[str, Tag], list[dict[str, Any]]]:
    """The same chat users in the database and as the wire dicts the sandbox reads."""
    bot, other_bot = BotFactory(), BotFactory()
    tags = {
        name: Tag.objects.create(bot=bot, name=name, remote_id=f"t-{name}") for name in ("vip", "new", "old")
    }
    wire = []
    for n, person in enumerate(PEOPLE):
        name, surname, email, channel, language, created, seen, tag_names, variables = person
        chatuser = ChatUser.objects.create(
            bot=bot,
            name=name,
            surname=surname,
            email=email,
            channel=channel,
            language=language,
            created_at=_instant(created),
            last_seen_at=_instant(seen),
        )
        ChatUserTag.objects.bulk_create([ChatUserTag(chatuser=chatuser, tag=tags[t]) for t in tag_names])
        Variable.objects.bulk_create(
            [Variable(chatuser=chatuser, name=k, value=v) for k, v in variables.items()]
        )
        wire.append(
            {
                "id": f"u{n}",
                "name": name,
                "surname": surname,
                "email": email,
                "channel": channel,
                "language": language,
                "created_at": created,
                "last_seen_at": seen,
                "tags": [tags[t].remote_id for t in tag_names],
                "variables": [{"id": f"v-{k}", "name": k, "value": v} for k, v in variables.items()],
            }
        )
    # A chat user of another bot never counts.
    ChatUser.objects.create(bot=other_bot, name="Zed", channel="api", email="Ada@Example.com")
    return bot, tags, wire


@pytest.mark.parametrize(("match", "filters"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_segment_count_equals_the_sandbox_semantics(population: Any, match: str, filters: list[dict]) -> None:
    bot, tags, wire = population
    wire_filters = [
        {**f, "value": tags[f["value"]].remote_id} if f["field"] == "tag" and "value" in f else f
        for f in filters
    ]
    local_filters = [
        {**f, "tag_id": tags[f["value"]].pk} if f["field"] == "tag" and "value" in f else f for f in filters
    ]
    expected = sorted(u["name"] for u in wire if matches(u, wire_filters, match))

    local = segment_queryset(bot=bot, match=match, filters=local_filters)

    assert sorted(local.values_list("name", flat=True)) == expected


def test_segment_table_exercises_both_empty_and_full_results(population: Any) -> None:
    _, tags, wire = population
    sizes = set()
    for match, filters in CASES:
        wire_filters = [
            {**f, "value": tags[f["value"]].remote_id} if f["field"] == "tag" and "value" in f else f
            for f in filters
        ]
        sizes.add(sum(1 for u in wire if matches(u, wire_filters, match)))
    assert {0, len(PEOPLE)} <= sizes
    assert len(sizes) >= 6


def test_chatuser_search_matches_a_substring_of_one_field_in_any_case() -> None:
    from chatusers.selectors import chatuser_search

    bot = BotFactory()
    ada = ChatUser.objects.create(bot=bot, name="Ada", surname="Lovelace", email="ada@example.com")
    bob = ChatUser.objects.create(bot=bot, name="Bob", surname="Ada", phone="+393331234567")
    ChatUser.objects.create(bot=BotFactory(), name="Ada")

    assert set(chatuser_search(bot=bot, search="aDA")) == {ada, bob}
    assert list(chatuser_search(bot=bot, search="LACE")) == [ada]
    assert list(chatuser_search(bot=bot, search="+39333")) == [bob]
    assert list(chatuser_search(bot=bot, search="ada@EX")) == [ada]
    assert list(chatuser_search(bot=bot, search="Ada Love")) == []  # spans two fields
    assert chatuser_search(bot=bot, search="").count() == 2
