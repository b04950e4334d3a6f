import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from automation.services import automated_message_create, automated_message_delete, automated_message_update
from knowledge.services import (
    interaction_create,
    interaction_delete,
    interaction_update,
    interactions_set_enabled,
)
from tests.factories import BotFactory
from tests.factories_content import UserFactory

pytestmark = pytest.mark.django_db

ANSWERS = [{"type": "text", "text": "Hi!"}]


@pytest.fixture
def reader(client):
    user = UserFactory(username="auditor", is_superuser=True)
    client.force_login(user)
    return user


def _history(client, app_label: str, model: str, pk: int) -> tuple[list[tuple[str, str]], str]:
    """The (user, message) rows of an object's admin History page, oldest first, and its HTML."""
    response = client.get(reverse(f"admin:{app_label}_{model}_history", args=[pk]))
    assert response.status_code == 200
    rows = [(entry.user.username, entry.get_change_message()) for entry in response.context["action_list"]]
    return rows, response.content.decode()


def _shows_when(html: str, entry: LogEntry) -> bool:
    return date_format(timezone.localtime(entry.action_time), "DATETIME_FORMAT") in html


def test_interaction_services_show_on_its_history_page_with_who_and_when(client, reader):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    before = timezone.now()
    interaction = interaction_create(
        bot=BotFactory(), label="refunds", question="Q?", answer="A.", actor=alice
    )
    interaction_update(interaction=interaction, actor=bob, answer="Within 30 days.")
    interactions_set_enabled(interactions=[interaction], enabled=False, actor=alice)

    rows, html = _history(client, "knowledge", "interaction", interaction.pk)

    assert rows == [("alice", "Added."), ("bob", "Changed answer."), ("alice", "Disabled.")]
    entries = LogEntry.objects.filter(object_id=str(interaction.pk)).order_by("pk")
    assert all(before <= entry.action_time <= timezone.now() for entry in entries)
    assert all(_shows_when(html, entry) for entry in entries)
    assert "alice" in html and "bob" in html and "Changed answer." in html


def test_automated_message_services_show_on_its_history_page(client, reader):
    carol = UserFactory(username="carol")
    message = automated_message_create(
        bot=BotFactory(), name="Welcome", trigger="page_visit", answers=ANSWERS, actor=carol
    )
    automated_message_update(message=message, actor=reader, delay_seconds=10, answers=[*ANSWERS, *ANSWERS])

    rows, html = _history(client, "automation", "automatedmessage", message.pk)

    assert rows == [("carol", "Added."), ("auditor", "Changed delay seconds, answers.")]
    assert all(_shows_when(html, entry) for entry in LogEntry.objects.filter(object_id=str(message.pk)))


def test_deletions_are_recorded_with_who_deleted(client, reader):
    dave = UserFactory(username="dave")
    interaction = interaction_create(bot=BotFactory(), label="x", question="Q?", answer="A.", actor=dave)
    message = automated_message_create(bot=BotFactory(), name="Bye", trigger="exit_intent", actor=dave)
    interaction_pk, message_pk = interaction.pk, message.pk

    interaction_delete(interaction=interaction, actor=dave)
    automated_message_delete(message=message, actor=dave)

    # The History page of a deleted object is gone with it; the entries stay for the
    # admin's "Recent actions" and any audit reading of LogEntry.
    deleted = LogEntry.objects.filter(action_flag=DELETION).order_by("pk")
    assert [(e.user.username, e.content_type.model, e.object_id) for e in deleted] == [
        ("dave", "interaction", str(interaction_pk)),
        ("dave", "automatedmessage", str(message_pk)),
    ]


def test_admin_edits_show_on_the_history_page_once_each(client, reader):
    bot = BotFactory()
    client.post(
        reverse("admin:knowledge_interaction_add"),
        {
            "bot": bot.pk,
            "label": "refunds",
            "question": "Q?",
            "answer": "A.",
            "language": "",
            "enabled": "on",
        },
    )
    interaction = LogEntry.objects.get().get_edited_object()
    client.post(
        reverse("admin:knowledge_interaction_change", args=[interaction.pk]),
        {"label": "refunds", "question": "Q?", "answer": "A.", "language": "en", "enabled": "on"},
    )
    client.post(
        reverse("admin:knowledge_interaction_changelist"),
        {"action": "disable_selected", "_selected_action": [interaction.pk]},
    )

    rows, html = _history(client, "knowledge", "interaction", interaction.pk)

    assert rows == [("auditor", "Added."), ("auditor", "Changed language."), ("auditor", "Disabled.")]
    assert all(_shows_when(html, entry) for entry in LogEntry.objects.all())


def test_admin_edits_of_an_automated_message_show_on_its_history_page(client, reader):
    bot = BotFactory()
    page = {
        "bot": bot.pk,
        "name": "Welcome",
        "trigger": "page_visit",
        "delay_seconds": 0,
        "enabled": "on",
        "conditions-TOTAL_FORMS": 0,
        "conditions-INITIAL_FORMS": 0,
        "answers-TOTAL_FORMS": 0,
        "answers-INITIAL_FORMS": 0,
    }
    client.post(reverse("admin:automation_automatedmessage_add"), page)
    message = LogEntry.objects.get().get_edited_object()
    client.post(
        reverse("admin:automation_automatedmessage_change", args=[message.pk]),
        {**page, "name": "Hello"},
    )

    rows, _ = _history(client, "automation", "automatedmessage", message.pk)

    assert rows == [("auditor", "Added."), ("auditor", "Changed name.")]


def test_one_statement_records_the_same_change_of_objects_of_several_kinds(monkeypatch):
    from backoffice import audit
    from chatusers.models import ChatUser
    from knowledge.models import Interaction

    monkeypatch.setattr(audit, "CHUNK", 2)  # three statements for these five entries
    actor = UserFactory(username="bulk")
    bot = BotFactory()
    users = [
        ChatUser.objects.create(bot=bot, name="N" * 150, surname="S" * 150, email=f"u{i}@example.com")
        for i in range(3)
    ]
    interactions = [
        interaction_create(bot=bot, label=f"l{i}", question=f"Q{i}?", answer="A.", actor=actor)
        for i in range(2)
    ]
    LogEntry.objects.all().delete()
    before = timezone.now()

    written = audit.record_many(
        actor=actor, objects=[*users, *interactions], action="change", message=["Tagged", "pushed"]
    )

    entries = list(LogEntry.objects.order_by("pk"))
    assert written == len(entries) == 5
    assert [(e.content_type.model_class(), e.object_id) for e in entries] == [
        *[(ChatUser, str(u.pk)) for u in users],
        *[(Interaction, str(i.pk)) for i in interactions],
    ]
    assert {(e.user_id, e.action_flag, e.change_message) for e in entries} == {
        (actor.pk, 2, "Tagged; pushed")
    }
    assert [e.object_repr for e in entries[:3]] == [str(u)[:200] for u in users]
    assert len(entries[0].object_repr) == 200
    assert all(before <= e.action_time <= timezone.now() for e in entries)
    # Stamped as Django stores a time on this database, so a query by its time finds each.
    assert all(LogEntry.objects.filter(pk=e.pk, action_time=e.action_time).exists() for e in entries)
    assert audit.record_many(actor=actor, objects=[], action="delete") == 0
