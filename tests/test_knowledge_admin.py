import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.sync.models import OutboxEntry, SyncState
from knowledge.models import Interaction
from tests.factories import BotFactory
from tests.factories_content import InteractionFactory, UserFactory
from tests.pages import crumbs

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:knowledge_interaction_changelist")
ADD = reverse("admin:knowledge_interaction_add")


@pytest.fixture
def operator(client):
    user = UserFactory(is_superuser=True)
    client.force_login(user)
    return user


def _change_url(interaction: Interaction) -> str:
    return reverse("admin:knowledge_interaction_change", args=[interaction.pk])


def _form_data(interaction: Interaction, **changes: object) -> dict[str, object]:
    data = {
        "label": interaction.label,
        "question": interaction.question,
        "answer": interaction.answer,
        "language": interaction.language,
        "enabled": "on" if interaction.enabled else "",
    }
    return {**data, **changes}


def _shown(response) -> list[str]:
    return sorted(item.label for item in response.context["cl"].result_list)


def test_changelist_shows_the_sync_columns(client, operator):
    InteractionFactory(label="refunds", sync_state=SyncState.ERROR, sync_error="400 invalid: label")

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    headers = [header["text"] for header in response.context["result_headers"]]
    assert headers[-3:] == ["sync state", "last synced", "last error"]
    assert "400 invalid: label" in response.content.decode()


def test_search_matches_question_answer_and_label(client, operator):
    bot = BotFactory()
    InteractionFactory(bot=bot, label="a", question="Where is my REFUND?")
    InteractionFactory(bot=bot, label="b", answer="Refunds take a week.")
    InteractionFactory(bot=bot, label="refund-policy")
    InteractionFactory(bot=bot, label="shipping", question="Shipping?", answer="Two days.")

    response = client.get(CHANGELIST, {"q": "refund"})

    assert _shown(response) == ["a", "b", "refund-policy"]


def test_filters_by_bot_language_enabled_and_sync_state(client, operator):
    shop, blog = BotFactory(), BotFactory()
    InteractionFactory(bot=shop, label="shop-en", language="en")
    InteractionFactory(bot=shop, label="shop-it", language="it", enabled=False)
    InteractionFactory(bot=blog, label="blog-en", language="en", sync_state=SyncState.SYNCED)

    assert _shown(client.get(CHANGELIST, {"bot__id__exact": shop.pk})) == ["shop-en", "shop-it"]
    assert _shown(client.get(CHANGELIST, {"language__exact": "en"})) == ["blog-en", "shop-en"]
    assert _shown(client.get(CHANGELIST, {"enabled__exact": "0"})) == ["shop-it"]
    assert _shown(client.get(CHANGELIST, {"sync_state__exact": "synced"})) == ["blog-en"]


def test_changelist_costs_the_same_queries_whatever_the_page_holds(client, operator):
    InteractionFactory.create_batch(2)
    client.get("/admin/")  # the sidebar's saved views are read once, then kept
    with CaptureQueriesContext(connection) as few:
        client.get(CHANGELIST)
    InteractionFactory.create_batch(20)
    with CaptureQueriesContext(connection) as many:
        client.get(CHANGELIST)

    assert len(many) == len(few)


def test_add_goes_through_the_service(client, operator):
    bot = BotFactory()

    response = client.post(
        ADD,
        {
            "bot": bot.pk,
            "label": "refunds",
            "question": "Refund?",
            "answer": "Yes.",
            "language": "en",
            "enabled": "on",
        },
    )

    assert response.status_code == 302
    interaction = Interaction.objects.get()
    assert (interaction.bot, interaction.label, interaction.language, interaction.enabled) == (
        bot,
        "refunds",
        "en",
        True,
    )
    assert list(OutboxEntry.objects.values_list("object_id", "deleted")) == [(interaction.pk, False)]
    assert list(LogEntry.objects.values_list("user_id", "object_id", "action_flag")) == [
        (operator.pk, str(interaction.pk), ADDITION)
    ]


def test_edit_saves_the_changed_field_only(client, operator):
    interaction = InteractionFactory(label="old", sync_state=SyncState.SYNCED)
    OutboxEntry.objects.all().delete()

    response = client.post(_change_url(interaction), _form_data(interaction, label="new"))

    assert response.status_code == 302
    stored = Interaction.objects.get()
    assert (stored.label, stored.question, stored.sync_state) == (
        "new",
        interaction.question,
        SyncState.PENDING,
    )
    assert OutboxEntry.objects.count() == 1
    assert list(LogEntry.objects.values_list("action_flag", "change_message")) == [(CHANGE, "Changed label.")]


def test_saving_unchanged_writes_nothing(client, operator):
    interaction = InteractionFactory(sync_state=SyncState.SYNCED)
    OutboxEntry.objects.all().delete()

    response = client.post(_change_url(interaction), _form_data(interaction))

    assert response.status_code == 302
    assert Interaction.objects.get().sync_state == SyncState.SYNCED
    assert OutboxEntry.objects.count() == 0
    assert LogEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"language": "xx"},
            {"language": ["Select a valid choice. xx is not one of the available choices."]},
        ),
        ({"label": "<vip>"}, {"label": ["A label cannot contain < or >."]}),
        ({"question": "  "}, {"question": ["This field is required."]}),
    ],
)
def test_edit_refuses_bad_values_with_their_message(client, operator, changes, errors):
    interaction = InteractionFactory(label="kept")
    OutboxEntry.objects.all().delete()

    response = client.post(_change_url(interaction), _form_data(interaction, **changes))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    assert Interaction.objects.get().label == "kept"
    assert OutboxEntry.objects.count() == 0
    assert LogEntry.objects.count() == 0


def test_bot_cannot_be_changed_on_an_existing_interaction(client, operator):
    interaction = InteractionFactory()
    other = BotFactory()

    client.post(_change_url(interaction), _form_data(interaction, bot=other.pk, label="moved"))

    assert Interaction.objects.get().bot_id == interaction.bot_id


def test_enable_and_disable_actions_report_exact_counts(client, operator):
    on = InteractionFactory(enabled=True)
    off = InteractionFactory.create_batch(2, enabled=False)
    OutboxEntry.objects.all().delete()
    selected = [on.pk, *(item.pk for item in off)]

    response = client.post(
        CHANGELIST, {"action": "enable_selected", "_selected_action": selected}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == ["Enabled 2 of 3 selected interactions."]
    assert set(Interaction.objects.values_list("enabled", flat=True)) == {True}
    assert OutboxEntry.objects.count() == 2

    response = client.post(
        CHANGELIST, {"action": "disable_selected", "_selected_action": [on.pk]}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == ["Disabled 1 of 1 selected interactions."]
    assert Interaction.objects.get(pk=on.pk).enabled is False


def test_delete_action_deletes_through_the_service(client, operator):
    doomed = [InteractionFactory(remote_id=f"remote-{n}") for n in range(2)]  # on Userbot: deletions to send
    kept = InteractionFactory()
    OutboxEntry.objects.all().delete()
    selected = [item.pk for item in doomed]

    confirm = client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": selected})
    response = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": selected, "post": "yes"}, follow=True
    )

    levels = ["Home", "Knowledge", "Knowledge base", "Delete multiple objects"]
    assert crumbs(confirm.content.decode()) == levels
    assert [str(m) for m in response.context["messages"]] == ["Successfully deleted 2 interactions."]
    assert list(Interaction.objects.all()) == [kept]
    assert sorted(OutboxEntry.objects.values_list("object_id", "deleted")) == [
        (pk, True) for pk in sorted(selected)
    ]
    assert LogEntry.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes exist on PostgreSQL only")
def test_search_is_served_by_trigram_indexes_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'knowledge_interaction'")
        names = {row[0] for row in cursor.fetchall()}

    assert {"interaction_label_trgm", "interaction_question_trgm", "interaction_answer_trgm"} <= names
