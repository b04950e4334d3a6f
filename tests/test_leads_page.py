"""A lead's page: its visits and key people read from Userbot and kept, shown as they came."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from backoffice.sync.pull import pull_bot
from chatusers.models import ChatUser
from leads.models import Lead, LeadDetails
from tests.conftest import SITEKEY
from tests.leads_world import intel, lead_bot  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page_client(client: Any) -> Any:
    user = get_user_model().objects.create_user("leads-viewer", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_lead", "view_chatuser"]))
    client.force_login(user)
    return client


@pytest.fixture
def acme(lead_bot: Any, intel: Any) -> Lead:  # noqa: F811
    pull_bot(lead_bot)
    return Lead.objects.get(company="Acme Logistics")


def page(client: Any, lead: Lead) -> str:
    response = client.get(f"/admin/leads/lead/{lead.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_the_visits_and_key_people_and_keeps_them(page_client, acme, intel):  # noqa: F811
    visits = intel.store.bots[SITEKEY].lead_visits[acme.remote_id]
    people = intel.store.bots[SITEKEY].lead_people[acme.remote_id]

    html = page(page_client, acme)

    kept = LeadDetails.objects.get(lead=acme)
    assert (kept.visits, kept.people, kept.warnings) == (visits, people, [])
    assert html.count("<tr><td>20") == len(visits)  # one row per visit, by the time it landed
    assert visits[0]["url"] in html
    assert people[0]["email"] in html
    assert "Read from Userbot" in html


def test_the_kept_copy_is_shown_with_its_time_when_userbot_cannot_be_reached(page_client, acme, intel):  # noqa: F811
    person = intel.store.bots[SITEKEY].lead_people[acme.remote_id][0]
    page(page_client, acme)
    read_at = LeadDetails.objects.get(lead=acme).read_at
    intel.stop()

    html = page(page_client, acme)

    assert "Userbot could not be reached" in html
    assert f"Shown below as read {read_at:%Y-%m-%d %H:%M} UTC." in html
    assert person["email"] in html
    assert LeadDetails.objects.get(lead=acme).read_at == read_at


def test_a_lead_userbot_answers_404_for_is_said_to_be_gone(page_client, acme, intel):  # noqa: F811
    del intel.store.bots[SITEKEY].leads[acme.remote_id]

    html = page(page_client, acme)

    assert "The lead is gone from Userbot" in html
    assert not LeadDetails.objects.exists()


def test_bad_visits_and_people_are_kept_as_they_came_with_warnings(page_client, acme, intel):  # noqa: F811
    bot = intel.store.bots[SITEKEY]
    bot.lead_visits[acme.remote_id] = [
        {
            "url": "https://shop.example.com/back",
            "landed_at": "2026-11-20T10:05:00.000Z",
            "left_at": "2026-11-20T10:00:00.000Z",
        }
    ]
    bot.lead_people[acme.remote_id] = [{"name": "Ada", "role": "CTO"}]

    html = page(page_client, acme)

    kept = LeadDetails.objects.get(lead=acme)
    assert kept.people == [{"name": "Ada", "role": "CTO"}]
    assert "A visit to https://shop.example.com/back ends before it starts." in kept.warnings
    assert any(w.startswith("A key person is not as Userbot's contract says") for w in kept.warnings)
    assert "ends before it starts" in html
    assert "CTO" in html


def test_the_chat_users_of_the_leads_domain_are_listed_with_links(page_client, acme):
    match = ChatUser.objects.create(bot=acme.bot, name="Ann", email=f"ann@{acme.domain.upper()}")
    ChatUser.objects.create(bot=acme.bot, name="Bob", email=f"bob@not{acme.domain}")

    html = page(page_client, acme)

    assert f'href="/admin/chatusers/chatuser/{match.pk}/change/"' in html
    assert "Bob" not in html
