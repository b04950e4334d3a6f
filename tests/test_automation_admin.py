import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.forms import CheckboxInput
from django.urls import reverse

from automation.models import Answer, AutomatedMessage, Button, Condition
from automation.selectors import automated_message_answers, automated_message_conditions
from backoffice.sync.models import OutboxEntry, SyncState
from tests.factories import BotFactory
from tests.factories_content import AutomatedMessageFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:automation_automatedmessage_changelist")
ADD = reverse("admin:automation_automatedmessage_add")

CONDITIONS = [
    {"field": "url", "op": "contains", "value": "/pricing", "name": ""},
    {"field": "variable", "op": "gt", "value": "3", "name": "visits"},
]
ANSWERS = [
    {"type": "text", "text": "Hi there!"},
    {
        "type": "buttons",
        "text": "Can I help?",
        "buttons": [{"label": "Yes please", "value": "yes"}, {"label": "No thanks", "value": "no"}],
    },
]


@pytest.fixture
def operator(client):
    user = UserFactory(is_superuser=True)
    client.force_login(user)
    return user


def _management(prefix: str, total: int, initial: int = 0) -> dict[str, object]:
    return {
        f"{prefix}-TOTAL_FORMS": total,
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


def _add_page(bot, *, conditions=CONDITIONS, answers=ANSWERS, **fields) -> dict[str, object]:
    """The add page as a browser posts it, with the given conditions and answers."""
    data = {"bot": bot.pk, "name": "Welcome", "trigger": "page_visit", "delay_seconds": 5, "enabled": "on"}
    data.update(fields)
    data.update(_management("conditions", len(conditions)))
    for i, condition in enumerate(conditions):
        data.update({f"conditions-{i}-{key}": value for key, value in condition.items()})
    data.update(_management("answers", len(answers)))
    for i, answer in enumerate(answers):
        for key in ("type", "text", "url"):
            data[f"answers-{i}-{key}"] = answer.get(key, "")
        buttons = answer.get("buttons", [])
        data.update(_management(f"answers-{i}-buttons", len(buttons)))
        for j, button in enumerate(buttons):
            data[f"answers-{i}-buttons-{j}-label"] = button["label"]
            data[f"answers-{i}-buttons-{j}-value"] = button["value"]
    return data


def _page_data(response) -> dict[str, object]:
    """What a browser would post back from a rendered change page, unchanged."""
    data: dict[str, object] = {}

    def add(form) -> None:
        for bound in form:
            value = bound.value()
            if isinstance(bound.field.widget, CheckboxInput):
                if value:
                    data[bound.html_name] = "on"
            elif value is not None:
                data[bound.html_name] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
            if hasattr(form, "buttons"):
                add(form.buttons.management_form)
                for button_form in form.buttons.forms:
                    add(button_form)
    return data


def _wire(message: AutomatedMessage) -> tuple[list, list]:
    return automated_message_conditions(message=message), automated_message_answers(message=message)


def test_add_page_saves_the_message_with_two_answers_and_their_buttons(client, operator):
    bot = BotFactory()

    response = client.post(ADD, _add_page(bot))

    assert response.status_code == 302
    message = AutomatedMessage.objects.get()
    assert (message.bot, message.name, message.trigger, message.delay_seconds, message.enabled) == (
        bot,
        "Welcome",
        "page_visit",
        5,
        True,
    )
    assert _wire(message) == (
        [
            {"field": "url", "op": "contains", "value": "/pricing"},
            {"field": "variable", "op": "gt", "value": "3", "name": "visits"},
        ],
        ANSWERS,
    )
    assert list(OutboxEntry.objects.values_list("object_id", "deleted")) == [(message.pk, False)]
    assert list(LogEntry.objects.values_list("user_id", "object_id", "action_flag")) == [
        (operator.pk, str(message.pk), ADDITION)
    ]


def test_change_page_edits_everything_at_once_and_reads_back_exactly(client, operator):
    client.post(ADD, _add_page(BotFactory()))
    message = AutomatedMessage.objects.get()
    AutomatedMessage.objects.update(sync_state=SyncState.SYNCED)
    OutboxEntry.objects.all().delete()
    LogEntry.objects.all().delete()
    url = reverse("admin:automation_automatedmessage_change", args=[message.pk])
    data = _page_data(client.get(url))
    # Two saved answers plus one blank; the buttons answer shows its two buttons plus blank rows.
    assert (data["answers-TOTAL_FORMS"], data["answers-1-buttons-INITIAL_FORMS"]) == (3, 2)

    data.update(
        {
            "trigger": "time_on_page",
            "delay_seconds": 30,
            "conditions-0-DELETE": "on",
            "answers-0-text": "Hello again!",
            "answers-1-buttons-0-label": "Yes!",
            "answers-1-buttons-1-DELETE": "on",
            "answers-1-buttons-2-label": "Call me",
            "answers-1-buttons-2-value": "call",
            "answers-2-type": "image",
            "answers-2-url": "https://example.com/team.png",
        }
    )
    response = client.post(url, data)

    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.trigger, message.delay_seconds, message.sync_state) == (
        "time_on_page",
        30,
        SyncState.PENDING,
    )
    assert _wire(message) == (
        [{"field": "variable", "op": "gt", "value": "3", "name": "visits"}],
        [
            {"type": "text", "text": "Hello again!"},
            {
                "type": "buttons",
                "text": "Can I help?",
                "buttons": [{"label": "Yes!", "value": "yes"}, {"label": "Call me", "value": "call"}],
            },
            {"type": "image", "url": "https://example.com/team.png"},
        ],
    )
    assert (Condition.objects.count(), Answer.objects.count(), Button.objects.count()) == (1, 3, 2)
    assert list(OutboxEntry.objects.values_list("object_id", "deleted")) == [(message.pk, False)]
    assert list(LogEntry.objects.values_list("action_flag", "change_message")) == [
        (CHANGE, "Changed trigger, delay seconds, conditions, answers.")
    ]


def test_change_page_saved_unchanged_writes_nothing(client, operator):
    client.post(ADD, _add_page(BotFactory()))
    message = AutomatedMessage.objects.get()
    AutomatedMessage.objects.update(sync_state=SyncState.SYNCED)
    OutboxEntry.objects.all().delete()
    LogEntry.objects.all().delete()
    url = reverse("admin:automation_automatedmessage_change", args=[message.pk])

    response = client.post(url, _page_data(client.get(url)))

    assert response.status_code == 302
    assert AutomatedMessage.objects.get().sync_state == SyncState.SYNCED
    assert OutboxEntry.objects.count() == 0
    assert LogEntry.objects.count() == 0


def _refused(client, data) -> tuple:
    response = client.post(ADD, data)
    assert response.status_code == 200
    assert AutomatedMessage.objects.count() == 0
    assert OutboxEntry.objects.count() == 0
    assert LogEntry.objects.count() == 0
    conditions, answers = (inline.formset for inline in response.context["inline_admin_formsets"])
    return response.context["adminform"].form, conditions, answers


def test_negative_delay_is_refused_with_its_message(client, operator):
    form, _, _ = _refused(client, _add_page(BotFactory(), delay_seconds=-1))

    assert form.errors == {"delay_seconds": ["Ensure this value is greater than or equal to 0."]}


def test_buttons_answer_without_buttons_is_refused_with_its_message(client, operator):
    data = _add_page(BotFactory(), answers=[{"type": "buttons", "text": "Pick one"}])

    _, _, answers = _refused(client, data)

    assert answers.forms[0].non_field_errors() == ["A buttons answer needs at least one button."]


def test_buttons_on_a_text_answer_are_refused_with_their_message(client, operator):
    data = _add_page(
        BotFactory(), answers=[{"type": "text", "text": "Hi", "buttons": [{"label": "A", "value": "a"}]}]
    )

    _, _, answers = _refused(client, data)

    assert answers.forms[0].non_field_errors() == ["Only a buttons answer has buttons."]


def test_a_button_without_label_is_refused_with_its_message(client, operator):
    data = _add_page(
        BotFactory(), answers=[{"type": "buttons", "text": "Go", "buttons": [{"label": "", "value": "a"}]}]
    )

    _, _, answers = _refused(client, data)

    assert answers.forms[0].buttons.forms[0].errors == {"label": ["This field is required."]}


@pytest.mark.parametrize(
    ("answer", "errors"),
    [
        ({"type": "image", "url": ""}, {"url": ["An image answer needs a URL."]}),
        (
            {"type": "image", "url": "https://example.com/a.png", "text": "x"},
            {"text": ["An image answer has no text."]},
        ),
        (
            {"type": "buttons", "text": " ", "buttons": [{"label": "A", "value": "a"}]},
            {"text": ["A buttons answer needs a text."]},
        ),
    ],
)
def test_answer_fields_are_checked_per_type(client, operator, answer, errors):
    _, _, answers = _refused(client, _add_page(BotFactory(), answers=[answer]))

    assert answers.forms[0].errors == errors


@pytest.mark.parametrize(
    ("condition", "errors"),
    [
        (
            {"field": "url", "op": "eq", "value": "/", "name": "visits"},
            {"name": ["Only a variable condition has a name."]},
        ),
        (
            {"field": "variable", "op": "exists", "value": "", "name": ""},
            {"name": ["A variable condition needs the variable's name."]},
        ),
        ({"field": "tag", "op": "eq", "value": "", "name": ""}, {"value": ["This operator needs a value."]}),
        (
            {"field": "email", "op": "eq", "value": "x", "name": ""},
            {"field": ["Select a valid choice. email is not one of the available choices."]},
        ),
    ],
)
def test_conditions_are_checked_with_their_message(client, operator, condition, errors):
    _, conditions, _ = _refused(client, _add_page(BotFactory(), conditions=[condition]))

    assert conditions.forms[0].errors == errors


def test_changelist_shows_sync_columns_and_filters_by_sync_state(client, operator):
    AutomatedMessageFactory(name="Failing", sync_state=SyncState.ERROR, sync_error="400 invalid: answers[0]")
    AutomatedMessageFactory(name="Fine", sync_state=SyncState.SYNCED)

    response = client.get(CHANGELIST, {"sync_state__exact": "error"})

    assert [header["text"] for header in response.context["result_headers"]][-3:] == [
        "sync state",
        "last synced",
        "last error",
    ]
    assert [message.name for message in response.context["cl"].result_list] == ["Failing"]
    assert "400 invalid: answers[0]" in response.content.decode()


def test_delete_action_deletes_through_the_service(client, operator):
    doomed = [AutomatedMessageFactory(remote_id=f"remote-{n}") for n in range(2)]  # on Userbot
    kept = AutomatedMessageFactory()
    selected = [message.pk for message in doomed]

    response = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": selected, "post": "yes"}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == ["Successfully deleted 2 automated messages."]
    assert list(AutomatedMessage.objects.all()) == [kept]
    assert sorted(OutboxEntry.objects.values_list("object_id", "deleted")) == [
        (pk, True) for pk in sorted(selected)
    ]
    assert LogEntry.objects.count() == 2
