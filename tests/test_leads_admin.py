"""The lead list in the admin: search, filters, bulk tags on a filter, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from backoffice.sync.models import OutboxEntry
from chatusers.models import ChatUser
from leads.models import Lead, LeadTag
from leads.tags import tag_key
from tests.factories import BotFactory
from tests.operations import run_started

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/leads/lead/"


@pytest.fixture
def bot() -> Any:
    return BotFactory()


@pytest.fixture
def leads_client(client: Any) -> Any:
    """A staff user with every permission on leads, given directly."""
    user = get_user_model().objects.create_user("leads-operator", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="leads"))
    client.force_login(user)
    return client


def make_lead(
    bot: Any, company: str, *, tags: tuple[str, ...] = (), days_ago: int = 1, **fields: Any
) -> Lead:
    fields.setdefault("domain", f"{company.lower().replace(' ', '-')}.example")
    fields.setdefault("country", "IT")
    lead = Lead.objects.create(
        bot=bot,
        company=company,
        remote_id=f"r-{company}",
        sync_state="synced",
        last_visit_at=timezone.now() - timedelta(days=days_ago),
        **fields,
    )
    LeadTag.objects.bulk_create(LeadTag(lead=lead, tag=t, key=tag_key(t)) for t in tags)
    lead.synced_snapshot = {"tags": sorted(t.lower() for t in tags)}
    lead.save(update_fields=["synced_snapshot"])
    return lead


def listed(response: Any) -> list[str]:
    return [lead.company for lead in response.context["cl"].result_list]


def test_the_list_searches_company_and_domain_and_filters_by_country_tag_and_recency(leads_client, bot):
    make_lead(bot, "Acme", tags=("hot",), days_ago=2, country="IT", visits=9)
    make_lead(bot, "Globex", tags=("Hot", "partner"), days_ago=20, country="DE", visits=3)
    make_lead(bot, "Initech", days_ago=60, country="DE", domain="acme-holding.example", visits=5)

    assert listed(leads_client.get(CHANGELIST, {"q": "acme"})) == ["Acme", "Initech"]
    assert listed(leads_client.get(CHANGELIST, {"country": "DE"})) == ["Globex", "Initech"]
    assert listed(leads_client.get(CHANGELIST, {"tag": "HOT"})) == ["Acme", "Globex"]
    assert listed(leads_client.get(CHANGELIST, {"visited_within": "30"})) == ["Acme", "Globex"]
    assert listed(leads_client.get(CHANGELIST, {"visited_within": "7"})) == ["Acme"]
    assert listed(leads_client.get(CHANGELIST, {"o": "4"})) == ["Globex", "Initech", "Acme"]  # visits
    assert listed(leads_client.get(CHANGELIST, {"o": "-4"})) == ["Acme", "Initech", "Globex"]


def test_a_gone_lead_shows_as_gone(leads_client, bot):
    make_lead(bot, "Acme", gone_at=timezone.now())
    make_lead(bot, "Globex")

    response = leads_client.get(CHANGELIST)

    assert response.status_code == 200
    assert response.content.decode().count(">gone</span>") == 1
    assert listed(leads_client.get(CHANGELIST, {"gone": "yes"})) == ["Acme"]


def test_a_tag_is_added_to_every_lead_the_filter_matches_and_queued_once_each(leads_client, bot):
    acme = make_lead(bot, "Acme", country="IT")
    globex = make_lead(bot, "Globex", country="IT", tags=("VIP",))
    make_lead(bot, "Initech", country="DE")
    form = {"action": "add_tag", "select_across": "1", "index": "0", "_selected_action": [str(acme.pk)]}

    asked = leads_client.post(f"{CHANGELIST}?country=IT", form)
    # Every lead the list matches: a long operation, run here as a worker runs it.
    operation = run_started(
        leads_client.post(f"{CHANGELIST}?country=IT", {**form, "post": "yes", "tag": " vip "})
    )

    assert (
        "This applies to 2 leads (every lead matching the current filters and search)."
        in asked.content.decode()
    )
    assert (operation.kind, operation.status, operation.total) == ("leads.add_tag", "done", 1)
    assert operation.result == "Tag “vip” added to 1 lead."
    assert sorted(LeadTag.objects.values_list("lead__company", "tag")) == [("Acme", "vip"), ("Globex", "VIP")]
    assert list(OutboxEntry.objects.values_list("object_id", "state")) == [(acme.pk, "pending")]
    acme.refresh_from_db()
    globex.refresh_from_db()
    assert (acme.sync_state, globex.sync_state) == ("pending", "synced")
    assert LogEntry.objects.get(object_id=str(acme.pk)).change_message == "Added tag vip"


def test_a_tag_is_removed_from_the_selected_leads_only(leads_client, bot):
    acme = make_lead(bot, "Acme", tags=("hot", "partner"))
    make_lead(bot, "Globex", tags=("hot",))
    form = {
        "action": "remove_tag",
        "index": "0",
        "_selected_action": [str(acme.pk)],
        "post": "yes",
        "tag": "HOT",
    }

    leads_client.post(CHANGELIST, form)

    assert sorted(LeadTag.objects.values_list("lead__company", "tag")) == [
        ("Acme", "partner"),
        ("Globex", "hot"),
    ]
    assert OutboxEntry.objects.get().object_id == acme.pk


def test_a_tag_of_ten_thousand_characters_is_refused_with_its_length(leads_client, bot):
    acme = make_lead(bot, "Acme")
    form = {"action": "add_tag", "index": "0", "_selected_action": [str(acme.pk)], "post": "yes"}

    response = leads_client.post(CHANGELIST, {**form, "tag": "x" * 10_000})
    blank = leads_client.post(CHANGELIST, {**form, "tag": "   "})

    assert response.status_code == 200
    assert "A tag is at most 100 characters; this one has 10,000." in response.content.decode()
    assert "A tag cannot be empty or only spaces." in blank.content.decode()
    assert not LeadTag.objects.exists()
    assert not OutboxEntry.objects.exists()


def test_the_export_applies_the_filter_and_neutralises_formulas(leads_client, bot):
    make_lead(bot, "=HYPERLINK(1)", country="IT", tags=("@risk", "hot"), visits=4)
    make_lead(bot, "Globex", country="DE")

    response = leads_client.get(f"{CHANGELIST}export/", {"country": "IT"})

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["id", "company", "domain", "country", "visits", "last_visit_at", "tags", "gone_at"]
    assert len(rows) == 2
    assert rows[1][:5] == ["r-=HYPERLINK(1)", "'=HYPERLINK(1)", "'=hyperlink(1).example", "IT", "4"]
    assert rows[1][6] == "'@risk, hot"
    assert LogEntry.objects.get().change_message == "Exported 1 lead as CSV: filter country=IT"


def test_read_again_queues_a_pull_of_the_bot(
    leads_client, bot, django_capture_on_commit_callbacks, monkeypatch
):
    queued: list[int] = []
    monkeypatch.setattr("backoffice.sync.tasks.pull.delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        response = leads_client.post(f"{CHANGELIST}read-again/", {"bot": str(bot.pk)})

    assert response.status_code == 302
    assert queued == [bot.pk]


def test_a_user_without_leads_permissions_cannot_tag(client, bot):
    acme = make_lead(bot, "Acme")
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_lead"))
    client.force_login(user)

    client.post(
        CHANGELIST,
        {"action": "add_tag", "index": "0", "_selected_action": [str(acme.pk)], "post": "yes", "tag": "x"},
    )

    assert not LeadTag.objects.exists()
    assert client.get(f"{CHANGELIST}export/").status_code == 200
    assert client.post(f"{CHANGELIST}read-again/").status_code == 403


def test_a_chat_users_page_links_to_the_leads_of_its_email_domain(client, bot):
    make_lead(bot, "Acme", domain="acme.example")
    chatuser = ChatUser.objects.create(bot=bot, name="Ann", email="ann@acme.example")
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))

    html = client.get(f"/admin/chatusers/chatuser/{chatuser.pk}/change/").content.decode()
    leads = client.get(CHANGELIST, {"domain": "ACME.example"})

    assert '<a href="/admin/leads/lead/?domain=acme.example">Leads at acme.example</a>' in html
    assert listed(leads) == ["Acme"]
