"""The health endpoints: the web tier's liveness and the sync's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import OperationalError, connection
from django.test import Client

from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db
TOKEN = "t" * 40
NOW = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)
LABEL = "chatusers.chatuser"


def test_liveness_answers_ok_with_one_query_and_no_session(
    client: Client, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        response = client.get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "sessionid" not in response.cookies
    assert "no-cache" in response["Cache-Control"]


def test_liveness_answers_503_when_the_database_does_not(client: Client) -> None:
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/health/")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}


def test_liveness_is_not_redirected_to_https_when_the_rest_is(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/health/").status_code == 200
    assert Client().get("/admin/").status_code == 301


def test_liveness_takes_only_get(client: Client) -> None:
    assert client.post("/health/").status_code == 405


def _bot_with_known_figures() -> Any:
    """A bot with two pending entries (the older from 7 minutes before NOW), one in flight
    from two hours before, one dead letter, one open and one resolved conflict, and a pull
    that finished 90 seconds before NOW with an error."""
    bot = BotFactory(sitekey="shop-bot")
    other = BotFactory(sitekey="another-bot")
    OutboxEntry.objects.bulk_create(
        [
            OutboxEntry(bot=bot, object_type=LABEL, object_id=1, state="pending"),
            OutboxEntry(bot=bot, object_type=LABEL, object_id=2, state="pending"),
            OutboxEntry(bot=bot, object_type=LABEL, object_id=3, state="in_flight"),
            OutboxEntry(bot=bot, object_type=LABEL, object_id=4, state="dead"),
            OutboxEntry(bot=other, object_type=LABEL, object_id=5, state="dead"),
        ]
    )
    OutboxEntry.objects.filter(object_id=1).update(created_at=NOW - timedelta(minutes=7))
    OutboxEntry.objects.filter(object_id=2).update(created_at=NOW - timedelta(minutes=1))
    OutboxEntry.objects.filter(object_id=3).update(created_at=NOW - timedelta(hours=2))
    for resolution in ("open", "ours"):
        SyncConflict.objects.create(
            bot=bot,
            object_type=LABEL,
            object_id=6,
            object_repr="Ada",
            field=f"name-{resolution}",
            base_value="a",
            local_value="b",
            remote_value="c",
            resolution=resolution,
        )
    BotSync.objects.create(
        bot=bot, pull_finished_at=NOW - timedelta(seconds=90, microseconds=250), pull_error="timeout"
    )
    return bot


EXPECTED = {
    "checked_at": "2026-03-04T12:00:00Z",
    "bots": [
        # Never synced: no BotSync row, listed all the same.
        {
            "sitekey": "another-bot",
            "queue_depth": 0,
            "oldest_pending_at": None,
            "oldest_pending_age_s": None,
            "dead_letters": 1,
            "open_conflicts": 0,
            "last_pull_at": None,
            "last_pull_age_s": None,
            "last_pull_failed": False,
        },
        {
            "sitekey": "shop-bot",
            "queue_depth": 3,
            "oldest_pending_at": "2026-03-04T11:53:00Z",
            "oldest_pending_age_s": 420,
            "dead_letters": 1,
            "open_conflicts": 1,
            "last_pull_at": "2026-03-04T11:58:29Z",
            "last_pull_age_s": 90,
            "last_pull_failed": True,
        },
    ],
}


def _sync_health(client: Client, **headers: str) -> Any:
    with mock.patch("backoffice.health.timezone.now", return_value=NOW):
        return client.get("/health/sync/", headers=headers)


def test_sync_health_gives_each_bots_figures_to_the_token(client: Client, settings: Any) -> None:
    settings.SYNC_HEALTH_TOKEN = TOKEN
    _bot_with_known_figures()

    response = _sync_health(client, Authorization=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response.json() == EXPECTED
    assert "no-cache" in response["Cache-Control"]


def test_sync_health_reads_every_bot_in_one_query(
    client: Client, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.SYNC_HEALTH_TOKEN = TOKEN
    _bot_with_known_figures()
    BotFactory(sitekey="third-bot")

    with django_assert_num_queries(1):
        response = _sync_health(client, Authorization=f"Bearer {TOKEN}")

    assert [bot["sitekey"] for bot in response.json()["bots"]] == ["another-bot", "shop-bot", "third-bot"]


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        (TOKEN, ""),
        (TOKEN, f"Bearer {TOKEN}x"),
        (TOKEN, f"Basic {TOKEN}"),
        ("", "Bearer "),
        ("", "Bearer"),
    ],
)
def test_sync_health_refuses_a_missing_or_wrong_token(
    client: Client, settings: Any, configured: str, sent: str
) -> None:
    settings.SYNC_HEALTH_TOKEN = configured
    _bot_with_known_figures()

    response = _sync_health(client, **({"Authorization": sent} if sent else {}))

    assert response.status_code == 401
    assert response.json() == {"error": "a token or a staff login is needed"}
    assert response["WWW-Authenticate"] == 'Bearer realm="sync health"'
    assert "shop-bot" not in response.content.decode()


def test_sync_health_answers_staff_who_may_see_the_sync(client: Client, settings: Any) -> None:
    settings.SYNC_HEALTH_TOKEN = ""
    _bot_with_known_figures()
    staff = get_user_model().objects.create_user("watcher", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_botsync"))
    client.force_login(staff)

    response = _sync_health(client)

    assert response.status_code == 200
    assert response.json() == EXPECTED


def test_sync_health_refuses_staff_without_the_permission_and_other_users(client: Client) -> None:
    _bot_with_known_figures()
    client.force_login(get_user_model().objects.create_user("clerk", password="x", is_staff=True))
    assert _sync_health(client).status_code == 403

    client.force_login(get_user_model().objects.create_user("visitor", password="x"))
    assert _sync_health(client).status_code == 401
