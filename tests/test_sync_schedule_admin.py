"""The pull's schedule on a bot's sync page: its bounds, set through the service and checked
against each other; its pace and why; when the next pull is due, or since when one runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from backoffice.sync.admin.bot_sync import duration
from backoffice.sync.models import BotSync
from tests.factories import BotFactory
from tests.sync_helpers import history

pytestmark = pytest.mark.django_db

BOT_SYNCS = "/admin/sync/botsync/"
POLICIES = {"conflict_policy": "manual", "on_remote_delete": "delete"}


@pytest.fixture
def admin_client(client: Any) -> Any:
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "x"))
    return client


def readonly(response: Any, field: str) -> str:
    """The text of a read-only row of the page (its markup: the moments are <time> elements)."""
    page = response.content.decode()
    start = page.index(f'<div class="form-row field-{field}">')
    cell = page.index('<div class="readonly">', start) + len('<div class="readonly">')
    return page[cell : page.index("</div>\n", cell)].strip()


def test_the_page_saves_the_bounds_of_the_pull_through_the_service(admin_client: Any) -> None:
    state = BotSync.objects.create(bot=BotFactory())

    response = admin_client.post(
        f"{BOT_SYNCS}{state.pk}/change/", {**POLICIES, "pull_interval_s": "30", "pull_interval_max_s": "900"}
    )

    assert response.status_code == 302
    state.refresh_from_db()
    assert (state.pull_interval_s, state.pull_interval_max_s) == (30, 900)
    assert history(state) == ["Changed pull_interval_s, pull_interval_max_s"]


def test_the_page_refuses_a_max_below_the_floor_on_the_max_s_field(admin_client: Any) -> None:
    state = BotSync.objects.create(bot=BotFactory())

    response = admin_client.post(
        f"{BOT_SYNCS}{state.pk}/change/", {**POLICIES, "pull_interval_s": "600", "pull_interval_max_s": "300"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "pull_interval_max_s": ['At least the 600 seconds of "pull every".']
    }
    state.refresh_from_db()
    assert (state.pull_interval_s, state.pull_interval_max_s) == (60, 300)
    assert history(state) == []


def test_a_bot_never_pulled_is_due_now_at_the_shortest_interval(admin_client: Any, settings: Any) -> None:
    settings.SYNC_PULL_DUTY = 4.0
    state = BotSync.objects.create(bot=BotFactory())

    response = admin_client.get(f"{BOT_SYNCS}{state.pk}/change/")

    assert readonly(response, "pull_pace") == (
        '1 min<div class="sync-note">No full reconciliation yet: the shortest allowed.</div>'
    )
    assert readonly(response, "next_pull") == "due now"
    assert readonly(response, "last_reconciliation") == "None yet"


def test_a_quick_bot_is_pulled_at_the_floor_and_says_when_next(admin_client: Any, settings: Any) -> None:
    settings.SYNC_PULL_DUTY = 4.0
    started = timezone.now() - timedelta(seconds=10)  # due in 110 s: "in 2 min" for 20 s more
    state = BotSync.objects.create(
        bot=BotFactory(),
        pull_interval_s=120,
        pull_started_at=started,
        pull_finished_at=started + timedelta(seconds=2.5),
        pull_duration_s=2.5,
    )

    response = admin_client.get(f"{BOT_SYNCS}{state.pk}/change/")

    assert readonly(response, "pull_pace") == (
        '2 min<div class="sync-note">The shortest allowed: 4 times the last full reconciliation (2.5 s) '
        "would be 10 s.</div>"
    )
    due = started + timedelta(seconds=120)
    assert readonly(response, "next_pull").startswith(f'due <time datetime="{due.isoformat()}"')
    assert readonly(response, "next_pull").endswith(">in 2 min</time>")
    assert readonly(response, "last_reconciliation").startswith("finished <time ")
    assert readonly(response, "last_reconciliation").endswith(">just now</time>, took 2.5 s")


def test_a_running_pull_says_since_when_instead_of_the_next(admin_client: Any) -> None:
    started = timezone.now() - timedelta(seconds=100)
    state = BotSync.objects.create(
        bot=BotFactory(), pull_started_at=started, pull_lease_until=timezone.now() + timedelta(seconds=60)
    )

    response = admin_client.get(f"{BOT_SYNCS}{state.pk}/change/")

    text = readonly(response, "next_pull")
    assert text.startswith(f'running since <time datetime="{started.isoformat()}">')
    assert text.endswith(" so far)")
    list_page = admin_client.get(BOT_SYNCS).content.decode()
    assert "running for 1 min 4" in list_page  # 100 s and the moment the page took


def test_a_pull_whose_lease_ran_out_is_not_shown_running(admin_client: Any) -> None:
    started = timezone.now() - timedelta(seconds=300)
    state = BotSync.objects.create(
        bot=BotFactory(), pull_started_at=started, pull_lease_until=timezone.now() - timedelta(seconds=1)
    )

    response = admin_client.get(f"{BOT_SYNCS}{state.pk}/change/")

    assert readonly(response, "next_pull").startswith("due <time ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0 s"),
        (0.4, "0.4 s"),
        (3.0, "3 s"),
        (9.96, "10 s"),
        (30.2, "30 s"),
        (60, "1 min"),
        (130, "2 min 10 s"),
        (3600, "1 h"),
        (3900, "1 h 5 min"),
    ],
)
def test_durations_read_in_the_largest_units(seconds: float, text: str) -> None:
    assert duration(seconds) == text
