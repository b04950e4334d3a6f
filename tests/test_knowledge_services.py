import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.exceptions import ValidationError

from backoffice.sync.models import OutboxEntry, SyncState
from knowledge.models import Interaction
from knowledge.selectors import interaction_list
from knowledge.services import (
    interaction_create,
    interaction_delete,
    interaction_update,
    interactions_delete,
    interactions_set_enabled,
)
from tests.factories import BotFactory
from tests.factories_content import InteractionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _outbox() -> list[tuple[str, int, bool, str]]:
    return list(
        OutboxEntry.objects.order_by("pk").values_list("object_type", "object_id", "deleted", "remote_id")
    )


def test_create_saves_queues_one_push_and_records_the_actor():
    bot, actor = BotFactory(), UserFactory()

    interaction = interaction_create(
        bot=bot,
        label="refunds",
        question="Can I get a refund?",
        answer="Yes, within 30 days.",
        language="en",
        actor=actor,
    )

    stored = Interaction.objects.get()
    assert (stored.label, stored.question, stored.answer, stored.language, stored.enabled) == (
        "refunds",
        "Can I get a refund?",
        "Yes, within 30 days.",
        "en",
        True,
    )
    assert stored.sync_state == SyncState.PENDING
    assert _outbox() == [("knowledge.interaction", interaction.pk, False, "")]
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.object_id, entry.action_flag, entry.change_message) == (
        actor.pk,
        str(interaction.pk),
        ADDITION,
        "Added.",
    )


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"language": "xx"}, {"language": ["Value 'xx' is not a valid choice."]}),
        ({"label": "<vip>"}, {"label": ["A label cannot contain < or >."]}),
        ({"question": "   "}, {"question": ["This field cannot be only spaces."]}),
        ({"answer": ""}, {"answer": ["This field cannot be blank."]}),
    ],
)
def test_create_refuses_what_userbot_would_refuse_and_writes_nothing(fields, errors):
    data = {"label": "refunds", "question": "Refund?", "answer": "Yes.", "language": "en", **fields}

    with pytest.raises(ValidationError) as caught:
        interaction_create(bot=BotFactory(), actor=UserFactory(), **data)

    assert caught.value.message_dict == errors
    assert Interaction.objects.count() == 0
    assert _outbox() == []
    assert LogEntry.objects.count() == 0


def test_update_saves_only_changed_fields_and_queues_one_push():
    interaction = InteractionFactory(label="old", question="Q?", answer="A.", language="en")
    OutboxEntry.objects.all().delete()
    actor = UserFactory()

    interaction_update(interaction=interaction, actor=actor, label="new", question="Q?", language="it")

    stored = Interaction.objects.get()
    assert (stored.label, stored.question, stored.answer, stored.language) == ("new", "Q?", "A.", "it")
    assert _outbox() == [("knowledge.interaction", interaction.pk, False, "")]
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.action_flag, entry.change_message) == (
        actor.pk,
        CHANGE,
        "Changed label, language.",
    )


def test_update_that_changes_nothing_writes_nothing():
    interaction = InteractionFactory(label="same", sync_state=SyncState.SYNCED)

    interaction_update(interaction=interaction, actor=UserFactory(), label="same", enabled=True)

    assert Interaction.objects.get().sync_state == SyncState.SYNCED
    assert _outbox() == []
    assert LogEntry.objects.count() == 0


def test_update_refuses_an_unknown_field():
    with pytest.raises(TypeError, match="cannot change remote_id"):
        interaction_update(interaction=InteractionFactory(), actor=UserFactory(), remote_id="x")


def test_update_with_a_bad_value_rolls_back():
    interaction = InteractionFactory(label="kept", language="en")

    with pytest.raises(ValidationError):
        interaction_update(interaction=interaction, actor=UserFactory(), label="changed", language="zz")

    assert Interaction.objects.get().label == "kept"
    assert _outbox() == []
    assert LogEntry.objects.count() == 0


def test_delete_queues_the_deletion_with_the_remote_id_and_records_it():
    interaction = InteractionFactory(remote_id="i-42")
    pk, actor = interaction.pk, UserFactory()

    interaction_delete(interaction=interaction, actor=actor)

    assert Interaction.objects.count() == 0
    assert _outbox() == [("knowledge.interaction", pk, True, "i-42")]
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.object_id, entry.action_flag) == (actor.pk, str(pk), DELETION)


def test_bulk_delete_queues_one_deletion_per_interaction():
    bot = BotFactory()
    first, second = InteractionFactory(bot=bot, remote_id="i-1"), InteractionFactory(bot=bot, remote_id="i-2")
    OutboxEntry.objects.all().delete()

    deleted = interactions_delete(interactions=[first, second], actor=UserFactory())

    assert deleted == 2
    assert _outbox() == [
        ("knowledge.interaction", first.pk, True, "i-1"),
        ("knowledge.interaction", second.pk, True, "i-2"),
    ]
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 2


def test_set_enabled_changes_only_those_that_differ():
    bot = BotFactory()
    enabled = InteractionFactory(bot=bot, enabled=True)
    disabled = [InteractionFactory(bot=bot, enabled=False) for _ in range(2)]
    OutboxEntry.objects.all().delete()

    changed = interactions_set_enabled(
        interactions=Interaction.objects.all(), enabled=True, actor=UserFactory()
    )

    assert changed == 2
    assert list(Interaction.objects.order_by("pk").values_list("enabled", flat=True)) == [True, True, True]
    assert sorted(object_id for _, object_id, _, _ in _outbox()) == sorted(item.pk for item in disabled)
    assert sorted(LogEntry.objects.values_list("object_id", "change_message")) == sorted(
        (str(item.pk), "Enabled.") for item in disabled
    )
    assert enabled.pk not in [object_id for _, object_id, _, _ in _outbox()]


def test_set_enabled_with_nothing_to_change_writes_nothing():
    InteractionFactory(enabled=False)
    OutboxEntry.objects.all().delete()

    assert (
        interactions_set_enabled(interactions=Interaction.objects.all(), enabled=False, actor=UserFactory())
        == 0
    )
    assert _outbox() == []
    assert LogEntry.objects.count() == 0


def test_interaction_list_searches_question_answer_and_label_case_insensitively():
    bot = BotFactory()
    by_question = InteractionFactory(bot=bot, question="Where is my REFUND?", label="a")
    by_answer = InteractionFactory(bot=bot, answer="Refunds take a week.", label="b")
    by_label = InteractionFactory(bot=bot, label="refund-policy")
    InteractionFactory(bot=bot, label="shipping", question="Shipping?", answer="Two days.")
    InteractionFactory(label="refund", question="Other bot", answer="x")

    found = interaction_list(bot=bot, query="refund")

    assert set(found) == {by_question, by_answer, by_label}
    assert list(interaction_list(bot=bot, query="refund", label="b")) == [by_answer]
