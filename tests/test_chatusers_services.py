"""Chat user services: what they write to the outbox and the audit, and what they refuse."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from backoffice.operations import progress as progress_module
from backoffice.sync.models import OutboxEntry
from chatusers import services
from chatusers.models import ChatUser, ChatUserTag, Segment, SegmentFilter, Tag, Variable
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor() -> Any:
    return get_user_model().objects.create_user("operator", password="x")


def _outbox() -> list[tuple[str, int, bool]]:
    return sorted(OutboxEntry.objects.values_list("object_type", "object_id", "deleted"))


def _log() -> list[tuple[str, int, str]]:
    return sorted(LogEntry.objects.values_list("object_id", "action_flag", "change_message"))


def test_chatuser_create_writes_one_outbox_entry_and_one_audit_entry(actor: Any) -> None:
    bot = BotFactory()
    tag = TagFactory(bot=bot, name="vip")

    chatuser = services.chatuser_create(
        bot=bot, actor=actor, name="Ada", email="ada@example.com", tags=[tag], variables={"age": "36"}
    )

    assert chatuser.sync_state == "pending"
    assert _outbox() == [("chatusers.chatuser", chatuser.pk, False)]
    assert _log() == [(str(chatuser.pk), ADDITION, "Created")]
    assert list(chatuser.tags.values_list("name", flat=True)) == ["vip"]
    assert list(chatuser.variables.values_list("name", "value")) == [("age", "36")]


def test_chatuser_create_refuses_a_bad_phone_and_writes_nothing(actor: Any) -> None:
    bot = BotFactory()

    with pytest.raises(ValidationError) as error:
        services.chatuser_create(bot=bot, actor=actor, name="Ada", phone="0039333")

    assert error.value.message_dict == {
        "phone": ["Enter a phone number in E.164 form: a + and 2 to 15 digits, e.g. +393331234567."]
    }
    assert ChatUser.objects.count() == 0
    assert _outbox() == []
    assert _log() == []


def test_chatuser_create_refuses_an_email_held_in_another_case(actor: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, email="ada@example.com")

    with pytest.raises(ValidationError) as error:
        services.chatuser_create(bot=bot, actor=actor, email="ADA@Example.com")

    assert error.value.message_dict == {
        "email": ["Another chat user of this bot has this email (in any case)."]
    }
    # Another bot may hold the same email.
    assert services.chatuser_create(bot=BotFactory(), actor=actor, email="ADA@Example.com").pk


def test_chatuser_update_saves_and_records_only_changed_fields(actor: Any) -> None:
    chatuser = ChatUserFactory(name="Ada", surname="L", channel="webchat")

    changed = services.chatuser_update(chatuser=chatuser, actor=actor, name="Ada", surname="Lovelace")

    assert changed == ["surname"]
    assert ChatUser.objects.get(pk=chatuser.pk).surname == "Lovelace"
    assert ChatUser.objects.get(pk=chatuser.pk).sync_state == "pending"
    assert _outbox() == [("chatusers.chatuser", chatuser.pk, False)]
    assert _log() == [(str(chatuser.pk), CHANGE, "Changed surname")]


def test_chatuser_update_that_changes_nothing_writes_nothing(actor: Any) -> None:
    chatuser = ChatUserFactory(name="Ada", email="ada@example.com")
    updated_at = chatuser.updated_at

    changed = services.chatuser_update(chatuser=chatuser, actor=actor, name="Ada", email="ada@example.com")

    assert changed == []
    assert ChatUser.objects.get(pk=chatuser.pk).updated_at == updated_at
    assert ChatUser.objects.get(pk=chatuser.pk).sync_state == "synced"
    assert _outbox() == []
    assert _log() == []


def test_chatuser_delete_queues_the_deletion_with_the_userbot_id(actor: Any) -> None:
    chatuser = ChatUserFactory(remote_id="u-1")
    pk = chatuser.pk

    services.chatuser_delete(chatuser=chatuser, actor=actor)

    assert not ChatUser.objects.filter(pk=pk).exists()
    assert list(OutboxEntry.objects.values_list("object_id", "deleted", "remote_id")) == [(pk, True, "u-1")]
    assert _log() == [(str(pk), DELETION, "Deleted")]


def test_chatuser_delete_of_one_never_sent_to_userbot_queues_nothing(actor: Any) -> None:
    chatuser = ChatUserFactory(remote_id=None)
    services.chatuser_update(chatuser=chatuser, actor=actor, name="Renamed")  # a push is pending

    services.chatuser_delete(chatuser=chatuser, actor=actor)

    assert not OutboxEntry.objects.exists()


def test_chatuser_delete_while_its_create_may_be_in_flight_queues_its_client_ref(actor: Any) -> None:
    chatuser = ChatUserFactory(remote_id=None)
    services.chatuser_update(chatuser=chatuser, actor=actor, name="Renamed")
    OutboxEntry.objects.update(state="in_flight", attempts=1)  # the relay has taken it
    pk, client_ref = chatuser.pk, chatuser.client_ref

    services.chatuser_delete(chatuser=chatuser, actor=actor)

    # Userbot may hold the chat user without our knowing its id: its client_ref finds it.
    entries = OutboxEntry.objects.order_by("id").values_list(
        "object_id", "deleted", "remote_id", "client_ref", "state"
    )
    assert list(entries) == [(pk, False, "", "", "in_flight"), (pk, True, "", client_ref, "pending")]


def test_chatuser_add_tag_changes_only_chat_users_of_the_tags_bot_that_lack_it(actor: Any) -> None:
    bot = BotFactory()
    tag = TagFactory(bot=bot, name="vip")
    lacking = [ChatUserFactory(bot=bot) for _ in range(3)]
    having = ChatUserFactory(bot=bot)
    ChatUserTag.objects.create(chatuser=having, tag=tag)
    elsewhere = ChatUserFactory(bot=BotFactory())

    changed = services.chatuser_add_tag(chatusers=ChatUser.objects.all(), tag=tag, actor=actor)

    assert changed == 3
    assert sorted(ChatUserTag.objects.values_list("chatuser_id", flat=True)) == sorted(
        [c.pk for c in lacking] + [having.pk]
    )
    assert _outbox() == sorted(("chatusers.chatuser", c.pk, False) for c in lacking)
    assert _log() == sorted((str(c.pk), CHANGE, "Added tag vip") for c in lacking)
    assert ChatUser.objects.get(pk=having.pk).sync_state == "synced"
    assert ChatUser.objects.get(pk=elsewhere.pk).sync_state == "synced"


def test_chatuser_add_tag_works_in_chunks_with_a_fixed_number_of_queries_each(
    actor: Any, monkeypatch: pytest.MonkeyPatch, django_assert_max_num_queries: Any
) -> None:
    monkeypatch.setattr(progress_module, "CHUNK_SIZE", 2)
    bot = BotFactory()
    tag = TagFactory(bot=bot)
    chatusers = [ChatUserFactory(bot=bot) for _ in range(5)]
    ContentType.objects.get_for_model(ChatUser)  # cached from here on, as in a running process

    # 3 chunks of at most 6 statements (read, insert, touch, outbox insert, flag, audit)
    # plus savepoints, and the final empty read: never one query per chat user.
    with django_assert_max_num_queries(3 * 8 + 1 + 1):
        changed = services.chatuser_add_tag(chatusers=ChatUser.objects.filter(bot=bot), tag=tag, actor=actor)

    assert changed == 5
    assert ChatUserTag.objects.filter(tag=tag).count() == 5
    assert OutboxEntry.objects.count() == len(chatusers)


def test_chatuser_remove_tag_returns_how_many_had_it(actor: Any) -> None:
    bot = BotFactory()
    tag, other = TagFactory(bot=bot, name="vip"), TagFactory(bot=bot, name="old")
    having = ChatUserFactory(bot=bot)
    ChatUserTag.objects.create(chatuser=having, tag=tag)
    ChatUserTag.objects.create(chatuser=having, tag=other)
    lacking = ChatUserFactory(bot=bot)

    changed = services.chatuser_remove_tag(chatusers=ChatUser.objects.all(), tag=tag, actor=actor)

    assert changed == 1
    assert list(ChatUserTag.objects.values_list("chatuser_id", "tag_id")) == [(having.pk, other.pk)]
    assert _outbox() == [("chatusers.chatuser", having.pk, False)]
    assert _log() == [(str(having.pk), CHANGE, "Removed tag vip")]
    assert ChatUser.objects.get(pk=lacking.pk).sync_state == "synced"


def test_chatusers_delete_deletes_the_queryset_and_queues_each(actor: Any) -> None:
    bot = BotFactory()
    doomed = [ChatUserFactory(bot=bot, channel="api", remote_id=f"remote-{n}") for n in range(3)]
    kept = ChatUserFactory(bot=bot, channel="webchat")

    deleted = services.chatusers_delete(chatusers=ChatUser.objects.filter(channel="api"), actor=actor)

    assert deleted == 3
    assert list(ChatUser.objects.values_list("pk", flat=True)) == [kept.pk]
    assert _outbox() == sorted(("chatusers.chatuser", c.pk, True) for c in doomed)
    assert _log() == sorted((str(c.pk), DELETION, "Deleted") for c in doomed)


def test_chatuser_set_variable_creates_updates_and_ignores_the_same_value(actor: Any) -> None:
    chatuser = ChatUserFactory()

    assert services.chatuser_set_variable(chatuser=chatuser, name="age", value="3", actor=actor) is True
    assert services.chatuser_set_variable(chatuser=chatuser, name="age", value="4", actor=actor) is True
    assert services.chatuser_set_variable(chatuser=chatuser, name="age", value="4", actor=actor) is False

    assert list(Variable.objects.values_list("name", "value")) == [("age", "4")]
    assert _outbox() == [("chatusers.chatuser", chatuser.pk, False)]  # coalesced while pending
    assert _log() == [(str(chatuser.pk), CHANGE, "Set variable age")] * 2


def test_chatuser_remove_variable_only_writes_when_it_had_one(actor: Any) -> None:
    chatuser = ChatUserFactory()
    Variable.objects.create(chatuser=chatuser, name="age", value="3")

    assert services.chatuser_remove_variable(chatuser=chatuser, name="city", actor=actor) is False
    assert _outbox() == []
    assert services.chatuser_remove_variable(chatuser=chatuser, name="age", actor=actor) is True

    assert Variable.objects.count() == 0
    assert _outbox() == [("chatusers.chatuser", chatuser.pk, False)]
    assert _log() == [(str(chatuser.pk), CHANGE, "Removed variable age")]


def test_tag_create_audits_but_queues_nothing(actor: Any) -> None:
    bot = BotFactory()

    tag = services.tag_create(bot=bot, name="VIP", color="#ff0000", actor=actor)

    assert (tag.name, tag.color) == ("VIP", "#ff0000")
    assert _outbox() == []
    assert _log() == [(str(tag.pk), ADDITION, "Created")]


def test_tag_create_refuses_a_name_in_another_case_and_a_bad_colour(actor: Any) -> None:
    bot = BotFactory()
    TagFactory(bot=bot, name="vip")

    with pytest.raises(ValidationError) as duplicate:
        services.tag_create(bot=bot, name="VIP", actor=actor)
    with pytest.raises(ValidationError) as colour:
        services.tag_create(bot=bot, name="new", color="red", actor=actor)

    assert duplicate.value.message_dict == {
        "name": ["This bot already has a tag with this name (in any case)."]
    }
    assert colour.value.message_dict == {"color": ["Enter a colour as #rrggbb, e.g. #1e88e5."]}
    assert Tag.objects.count() == 1


def test_tag_on_userbot_cannot_be_deleted_or_renamed(actor: Any) -> None:
    tag = TagFactory(remote_id="t-1", name="vip")

    with pytest.raises(ValidationError):
        services.tag_delete(tag=tag, actor=actor)
    with pytest.raises(ValidationError):
        services.tag_update(tag=tag, name="VIP!", color=tag.color, actor=actor)

    assert Tag.objects.get(pk=tag.pk).name == "vip"


def test_segment_create_validates_filters_and_resolves_tags(actor: Any) -> None:
    bot = BotFactory()
    tag = TagFactory(bot=bot, name="vip")

    segment = services.segment_create(
        bot=bot,
        name="VIPs",
        match="all",
        filters=[
            {"field": "tag", "op": "eq", "value": "VIP"},
            {"field": "variable", "op": "gt", "value": "3", "name": "age"},
        ],
        actor=actor,
    )

    assert list(segment.filters.values_list("position", "field", "op", "value", "name", "tag_id")) == [
        (0, "tag", "eq", "vip", "", tag.pk),
        (1, "variable", "gt", "3", "age", None),
    ]
    assert _outbox() == [("chatusers.segment", segment.pk, False)]
    assert _log() == [(str(segment.pk), ADDITION, "Created")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"field": "tag", "op": "gt", "value": "x"},
            "Filter 1, op: The operator gt is not valid for the field tag.",
        ),
        ({"field": "email", "op": "eq"}, "Filter 1, value: A value is required with the operator eq."),
        (
            {"field": "variable", "op": "exists"},
            "Filter 1, name: A variable filter needs the variable's name.",
        ),
        (
            {"field": "channel", "op": "exists", "name": "x"},
            "Filter 1, name: Only a variable filter takes a variable name.",
        ),
        (
            {"field": "created_at", "op": "gt", "value": "yesterday"},
            "Filter 1, value: Enter a date (YYYY-MM-DD) or an ISO 8601 time.",
        ),
        ({"field": "tag", "op": "eq", "value": "nope"}, "Filter 1, value: This bot has no tag named “nope”."),
    ],
)
def test_segment_create_refuses_each_invalid_filter(actor: Any, spec: dict, message: str) -> None:
    bot = BotFactory()
    TagFactory(bot=BotFactory(), name="nope")  # a tag of another bot does not count

    with pytest.raises(ValidationError) as error:
        services.segment_create(bot=bot, name="S", match="all", filters=[spec], actor=actor)

    assert error.value.message_dict == {"filters": [message]}
    assert Segment.objects.count() == 0
    assert _outbox() == []


def test_segment_update_replaces_filters_and_ignores_no_change(actor: Any) -> None:
    segment = SegmentFactory(name="S")
    SegmentFilter.objects.create(segment=segment, field="channel", op="eq", value="api")
    same = [{"field": "channel", "op": "eq", "value": "api"}]

    assert services.segment_update(segment=segment, actor=actor, name="S", filters=same) == []
    assert _outbox() == []
    changed = services.segment_update(
        segment=segment, actor=actor, match="any", filters=[{"field": "email", "op": "exists"}]
    )

    assert changed == ["match", "filters"]
    assert list(segment.filters.values_list("field", "op")) == [("email", "exists")]
    assert _outbox() == [("chatusers.segment", segment.pk, False)]
    assert _log() == [(str(segment.pk), CHANGE, "Changed match, filters")]


def test_segment_delete_queues_the_deletion(actor: Any) -> None:
    segment = SegmentFactory(remote_id="s-1")
    pk = segment.pk

    services.segment_delete(segment=segment, actor=actor)

    assert not Segment.objects.exists()
    assert list(OutboxEntry.objects.values_list("object_type", "object_id", "deleted", "remote_id")) == [
        ("chatusers.segment", pk, True, "s-1")
    ]
