import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.exceptions import ValidationError

from automation.models import Answer, AutomatedMessage, Button, Condition
from automation.selectors import automated_message_answers, automated_message_conditions
from automation.services import automated_message_create, automated_message_delete, automated_message_update
from backoffice.sync.models import OutboxEntry, SyncState
from tests.factories import BotFactory
from tests.factories_content import UserFactory

pytestmark = pytest.mark.django_db

CONDITIONS = [
    {"field": "url", "op": "contains", "value": "/pricing"},
    {"field": "variable", "op": "gt", "value": "3", "name": "visits"},
]
ANSWERS = [
    {"type": "text", "text": "Hi there!"},
    {
        "type": "buttons",
        "text": "Need help?",
        "buttons": [{"label": "Yes", "value": "yes"}, {"label": "No", "value": ""}],
    },
    {"type": "image", "url": "https://example.com/a.png"},
]


def _outbox() -> list[tuple[str, int, bool, str]]:
    return list(
        OutboxEntry.objects.order_by("pk").values_list("object_type", "object_id", "deleted", "remote_id")
    )


def _create(**fields):
    data = {
        "name": "Welcome",
        "trigger": "page_visit",
        "delay_seconds": 5,
        "conditions": CONDITIONS,
        "answers": ANSWERS,
    }
    return automated_message_create(bot=BotFactory(), actor=UserFactory(), **{**data, **fields})


def test_create_saves_the_message_with_its_parts_in_order_and_queues_one_push():
    message = _create()

    stored = AutomatedMessage.objects.get()
    assert (stored.name, stored.trigger, stored.delay_seconds, stored.enabled) == (
        "Welcome",
        "page_visit",
        5,
        True,
    )
    assert automated_message_conditions(message=stored) == CONDITIONS
    assert automated_message_answers(message=stored) == ANSWERS
    assert _outbox() == [("automation.automatedmessage", message.pk, False, "")]
    assert list(LogEntry.objects.values_list("object_id", "action_flag")) == [(str(message.pk), ADDITION)]


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"delay_seconds": -1}, {"delay_seconds": ["Ensure this value is greater than or equal to 0."]}),
        ({"trigger": "on_click"}, {"trigger": ["Value 'on_click' is not a valid choice."]}),
        (
            {"conditions": [{"field": "url", "op": "eq", "value": "/", "name": "visits"}]},
            {"conditions[0].name": ["Only a variable condition has a name."]},
        ),
        (
            {"conditions": [{"field": "variable", "op": "exists", "value": ""}]},
            {"conditions[0].name": ["A variable condition needs the variable's name."]},
        ),
        (
            {"conditions": [{"field": "tag", "op": "eq", "value": ""}]},
            {"conditions[0].value": ["This operator needs a value."]},
        ),
        (
            {"answers": [{"type": "buttons", "text": "Pick one", "buttons": []}]},
            {"answers[0].buttons": ["A buttons answer needs at least one button."]},
        ),
        (
            {"answers": [{"type": "text", "text": "Hi", "buttons": [{"label": "A", "value": "a"}]}]},
            {"answers[0].buttons": ["Only a buttons answer has buttons."]},
        ),
        ({"answers": [{"type": "image", "url": ""}]}, {"answers[0].url": ["An image answer needs a URL."]}),
        ({"answers": [{"type": "text", "text": " "}]}, {"answers[0].text": ["A text answer needs a text."]}),
        (
            {"answers": [{"type": "buttons", "text": "Go", "buttons": [{"label": "", "value": "a"}]}]},
            {"answers[0].buttons[0].label": ["This field cannot be blank."]},
        ),
    ],
)
def test_create_refuses_bad_data_and_writes_nothing(fields, errors):
    with pytest.raises(ValidationError) as caught:
        _create(**fields)

    assert caught.value.message_dict == errors
    assert AutomatedMessage.objects.count() == 0
    assert Condition.objects.count() == Answer.objects.count() == Button.objects.count() == 0
    assert _outbox() == []
    assert LogEntry.objects.count() == 0


def test_create_reports_every_error_at_once():
    with pytest.raises(ValidationError) as caught:
        _create(
            name="",
            conditions=[{"field": "language", "op": "eq", "value": "en", "name": "x"}],
            answers=[{"type": "image", "url": ""}],
        )

    assert caught.value.message_dict == {
        "name": ["This field cannot be blank."],
        "conditions[0].name": ["Only a variable condition has a name."],
        "answers[0].url": ["An image answer needs a URL."],
    }


def test_update_replaces_conditions_and_answers_as_a_whole():
    message = _create()
    OutboxEntry.objects.all().delete()
    LogEntry.objects.all().delete()
    actor = UserFactory()
    answers = [{"type": "buttons", "text": "Still there?", "buttons": [{"label": "Yes", "value": "y"}]}]

    automated_message_update(message=message, actor=actor, name="Nudge", conditions=[], answers=answers)

    stored = AutomatedMessage.objects.get()
    assert stored.name == "Nudge"
    assert automated_message_conditions(message=stored) == []
    assert automated_message_answers(message=stored) == answers
    assert (Condition.objects.count(), Answer.objects.count(), Button.objects.count()) == (0, 1, 1)
    assert _outbox() == [("automation.automatedmessage", message.pk, False, "")]
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.action_flag, entry.change_message) == (
        actor.pk,
        CHANGE,
        "Changed name, conditions, answers.",
    )


def test_update_of_fields_only_keeps_the_parts():
    message = _create()
    OutboxEntry.objects.all().delete()

    automated_message_update(message=message, actor=UserFactory(), delay_seconds=30, enabled=False)

    stored = AutomatedMessage.objects.get()
    assert (stored.delay_seconds, stored.enabled) == (30, False)
    assert automated_message_conditions(message=stored) == CONDITIONS
    assert automated_message_answers(message=stored) == ANSWERS
    assert _outbox() == [("automation.automatedmessage", message.pk, False, "")]


def test_update_that_changes_nothing_writes_nothing():
    message = _create()
    AutomatedMessage.objects.update(sync_state=SyncState.SYNCED)
    OutboxEntry.objects.all().delete()
    LogEntry.objects.all().delete()
    message.refresh_from_db()
    answer_pks = list(Answer.objects.values_list("pk", flat=True))

    automated_message_update(
        message=message,
        actor=UserFactory(),
        name="Welcome",
        delay_seconds=5,
        conditions=CONDITIONS,
        answers=ANSWERS,
    )

    assert AutomatedMessage.objects.get().sync_state == SyncState.SYNCED
    assert list(Answer.objects.values_list("pk", flat=True)) == answer_pks
    assert _outbox() == []
    assert LogEntry.objects.count() == 0


def test_update_with_a_bad_answer_changes_nothing():
    message = _create()
    OutboxEntry.objects.all().delete()

    with pytest.raises(ValidationError) as caught:
        automated_message_update(
            message=message, actor=UserFactory(), name="Renamed", answers=[{"type": "buttons", "text": "?"}]
        )

    assert caught.value.message_dict == {
        "answers[0].buttons": ["A buttons answer needs at least one button."]
    }
    stored = AutomatedMessage.objects.get()
    assert stored.name == "Welcome"
    assert automated_message_answers(message=stored) == ANSWERS
    assert _outbox() == []


def test_delete_removes_the_parts_and_queues_the_deletion():
    message = _create()
    AutomatedMessage.objects.update(remote_id="am-7")
    message.refresh_from_db()
    OutboxEntry.objects.all().delete()
    LogEntry.objects.all().delete()
    pk, actor = message.pk, UserFactory()

    automated_message_delete(message=message, actor=actor)

    assert AutomatedMessage.objects.count() == 0
    assert Condition.objects.count() == Answer.objects.count() == Button.objects.count() == 0
    assert _outbox() == [("automation.automatedmessage", pk, True, "am-7")]
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.object_id, entry.action_flag) == (actor.pk, str(pk), DELETION)
