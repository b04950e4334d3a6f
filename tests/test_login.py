"""Login throttling: failures by user name and by address, the lockout, and lifting it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.login_helpers import PASSWORD, logged_in, operator, post_login

pytestmark = pytest.mark.django_db

LOCKED = 429


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Throttling is about counting attempts, not about the hasher's cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _fail(client: Client, username: str, times: int, *, address: str = "127.0.0.1") -> list[int]:
    return [post_login(client, username, "wrong-password", address=address).status_code for _ in range(times)]


def test_the_fifth_wrong_password_locks_the_user_name_and_the_right_one_is_then_refused(
    client: Client,
) -> None:
    operator("ada")

    statuses = _fail(client, "ada", 5)
    refused = post_login(client, "ada", PASSWORD)

    assert statuses == [200, 200, 200, 200, LOCKED]
    assert refused.status_code == LOCKED
    assert "Too many failed logins" in refused.content.decode()
    assert not logged_in(client)


def test_fifty_wrong_passwords_are_refused_and_the_right_one_does_not_get_in(client: Client) -> None:
    operator("admin")

    statuses = _fail(client, "admin", 50)
    refused = post_login(client, "admin", PASSWORD)

    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {LOCKED}
    assert refused.status_code == LOCKED
    assert not logged_in(client)


def test_the_lockout_message_says_why_and_for_how_long(client: Client, settings: Any) -> None:
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)
    operator("ada")

    response = _fail(client, "ada", 5) and post_login(client, "ada", PASSWORD)

    page = response.content.decode()
    assert response.status_code == LOCKED
    assert response["Retry-After"] == "1800"
    assert "After 5 failed attempts for one user name, or from one address" in page
    assert "for\n    30 minutes after the last attempt" in page
    assert 'name="password"' not in page
    assert "python manage.py axes_reset</code> lifts every lockout" in page


def test_in_production_the_lockout_page_keeps_the_shell_command_to_itself(
    client: Client, settings: Any
) -> None:
    settings.PRODUCTION = True
    operator("ada")

    response = _fail(client, "ada", 5) and post_login(client, "ada", PASSWORD)

    assert response.status_code == LOCKED
    assert "axes_reset" not in response.content.decode()


def test_the_lockout_ends_after_the_cool_off(client: Client) -> None:
    operator("ada")
    _fail(client, "ada", 5)
    assert post_login(client, "ada", PASSWORD).status_code == LOCKED

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = post_login(client, "ada", PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_the_user_name_is_locked_from_every_address(client: Client) -> None:
    operator("ada")
    for n in range(5):
        _fail(client, "ada", 1, address=f"10.0.0.{n + 1}")

    response = post_login(client, "ada", PASSWORD, address="10.0.1.1")

    assert response.status_code == LOCKED
    assert not logged_in(client)


def test_one_address_failing_on_many_names_is_locked_for_every_name(client: Client) -> None:
    operator("ada")
    for n in range(5):
        _fail(client, f"guess{n}", 1, address="10.0.0.9")

    from_there = post_login(client, "ada", PASSWORD, address="10.0.0.9")
    from_elsewhere = post_login(Client(), "ada", PASSWORD, address="10.0.0.10")

    assert from_there.status_code == LOCKED
    assert from_elsewhere.status_code == 302


def test_a_successful_login_clears_the_count(client: Client) -> None:
    operator("ada")
    _fail(client, "ada", 4)
    assert post_login(client, "ada", PASSWORD).status_code == 302
    client.post("/admin/logout/")

    statuses = _fail(client, "ada", 4)

    assert statuses == [200] * 4
    assert post_login(client, "ada", PASSWORD).status_code == 302


def test_the_limit_and_the_cool_off_are_settings(client: Client, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    operator("ada")

    assert _fail(client, "ada", 2) == [200, LOCKED]


def test_every_failure_and_the_lockout_are_logged(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    operator("ada")

    with caplog.at_level(logging.INFO):
        _fail(client, "ada", 5)

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum('login failure by {username: "ada"' in m for m in warnings) == 5
    assert any("Locking out" in m and "ada" in m for m in warnings)
    assert AccessFailureLog.objects.filter(username="ada").count() == 5
    assert "wrong-password" not in caplog.text


def test_an_operator_with_the_permission_sees_and_lifts_a_lockout_in_the_admin(client: Client) -> None:
    operator("ada")
    _fail(Client(), "ada", 5)
    security = operator("sam")
    security.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="axes", codename__in=["view_accessattempt", "delete_accessattempt"]
        )
    )
    client.force_login(security)

    listing = client.get("/admin/axes/accessattempt/")
    attempt = AccessAttempt.objects.get(username="ada")
    confirm = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert "ada" in listing.content.decode()
    assert confirm.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert post_login(Client(), "ada", PASSWORD).status_code == 302


def test_an_operator_without_the_permission_cannot_see_lockouts(client: Client) -> None:
    operator("ada")
    _fail(Client(), "ada", 5)
    client.force_login(operator("viewer"))

    response = client.get("/admin/axes/accessattempt/")

    assert response.status_code == 403
    assert AccessAttempt.objects.filter(username="ada").exists()


def test_axes_reset_lifts_every_lockout_from_a_shell(client: Client) -> None:
    operator("ada")
    _fail(client, "ada", 5)

    call_command("axes_reset")

    assert post_login(client, "ada", PASSWORD).status_code == 302


def test_force_login_of_the_tests_bypasses_the_throttle(client: Client) -> None:
    user = operator("ada")
    _fail(Client(), "ada", 5)

    client.force_login(user)

    assert logged_in(client)


def test_behind_a_proxy_the_forwarded_address_is_the_one_counted(client: Client, settings: Any) -> None:
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    operator("ada")
    for n in range(5):
        client.post(
            "/admin/login/",
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.7",
        )

    other_browser = Client().post(
        "/admin/login/",
        {"username": "ada", "password": PASSWORD},
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="198.51.100.2",
    )

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    assert other_browser.status_code == 302
