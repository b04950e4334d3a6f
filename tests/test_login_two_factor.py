"""Two-factor authentication: the code at login, counted by the throttle; setting it up,
recovery codes, and making it required."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.accounts.models import UserSession
from backoffice.accounts.services import recovery_codes_replace
from tests.login_helpers import PASSWORD, confirmed_device, logged_in, operator, post_login, totp_code

pytestmark = pytest.mark.django_db

TWO_FACTOR = "/admin/account/two-factor/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_user_without_two_factor_logs_in_with_a_password(client: Client) -> None:
    operator("ada")

    response = post_login(client, "ada", PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_a_user_with_two_factor_is_asked_for_the_code(client: Client) -> None:
    confirmed_device(operator("ada"))

    response = post_login(client, "ada", PASSWORD)

    assert response.status_code == 200
    assert "Enter the code from your authenticator app, or a recovery code." in response.content.decode()
    assert not logged_in(client)


def test_the_right_code_logs_in_and_verifies_the_session(client: Client) -> None:
    device = confirmed_device(operator("ada"))

    response = post_login(client, "ada", PASSWORD, code=totp_code(device))

    assert response.status_code == 302
    assert logged_in(client)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_a_wrong_code_is_refused_and_counts_as_a_failed_login(client: Client) -> None:
    device = confirmed_device(operator("ada"))

    response = post_login(client, "ada", PASSWORD, code=totp_code(device, steps_ahead=10))

    assert response.status_code == 200
    assert "That two-factor code is not right." in response.content.decode()
    assert not logged_in(client)
    assert AccessAttempt.objects.get(username="ada").failures_since_start == 1


def test_five_wrong_codes_with_the_right_password_lock_the_user_out(client: Client) -> None:
    device = confirmed_device(operator("ada"))

    statuses = [post_login(client, "ada", PASSWORD, code=f"{n:06d}").status_code for n in range(5)]
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    refused = post_login(client, "ada", PASSWORD, code=totp_code(device))

    assert statuses == [200, 200, 200, 200, 429]
    assert refused.status_code == 429
    assert not logged_in(client)


def test_a_code_works_once(client: Client) -> None:
    device = confirmed_device(operator("ada"))
    code = totp_code(device)
    assert post_login(client, "ada", PASSWORD, code=code).status_code == 302

    replayed = post_login(Client(), "ada", PASSWORD, code=code)

    assert replayed.status_code == 200
    assert "That two-factor code is not right." in replayed.content.decode()


def test_a_recovery_code_logs_in_once(client: Client) -> None:
    user = operator("ada")
    confirmed_device(user)
    codes = recovery_codes_replace(user=user)

    first = post_login(client, "ada", PASSWORD, code=codes[0].upper())
    again = post_login(Client(), "ada", PASSWORD, code=codes[0])

    assert first.status_code == 302
    assert again.status_code == 200
    assert StaticToken.objects.filter(device__user=user).count() == 9


def test_an_operator_sets_up_two_factor_from_their_page(client: Client) -> None:
    user = operator("ada")
    client.force_login(user)

    page = client.get(TWO_FACTOR)
    device = TOTPDevice.objects.get(user=user)
    wrong = client.post(TWO_FACTOR, {"action": "confirm", "code": "000000"})
    # django-otp holds the device back for a second after a wrong code.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    right = client.post(TWO_FACTOR, {"action": "confirm", "code": totp_code(device)})

    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    assert not device.confirmed
    assert "That code is not right." in wrong.content.decode()
    assert right.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    codes = right.context["codes"]
    assert len(codes) == 10
    assert set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)) == set(codes)
    assert LogEntry.objects.filter(
        object_id=str(user.pk), change_message="Two-factor authentication turned on"
    ).exists()


def test_setting_up_two_factor_ends_the_sessions_logged_in_with_a_password_alone(client: Client) -> None:
    user = operator("ada")
    other = Client()
    assert post_login(other, "ada", PASSWORD).status_code == 302
    client.force_login(user)
    client.get(TWO_FACTOR)
    device = TOTPDevice.objects.get(user=user)

    client.post(TWO_FACTOR, {"action": "confirm", "code": totp_code(device)})

    assert not logged_in(other)
    assert list(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == [
        client.session.session_key
    ]


def test_replacing_the_authenticator_asks_for_a_code_of_the_current_one(client: Client) -> None:
    user = operator("ada")
    old = confirmed_device(user)
    client.force_login(user)
    client.get(f"{TWO_FACTOR}?replace=1")
    new = TOTPDevice.objects.get(user=user, confirmed=False)

    without = client.post(TWO_FACTOR, {"action": "confirm", "code": totp_code(new)})
    with_code = client.post(
        TWO_FACTOR, {"action": "confirm", "code": totp_code(new), "current_code": totp_code(old)}
    )

    assert "Enter a code from your current authenticator app" in without.content.decode()
    assert with_code.status_code == 200
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", "confirmed")) == [(new.pk, True)]


def test_turning_two_factor_off_takes_a_code(client: Client) -> None:
    user = operator("ada")
    device = confirmed_device(user)
    client.force_login(user)

    wrong = client.post(TWO_FACTOR, {"action": "disable", "code": "000000"})
    assert TOTPDevice.objects.filter(user=user).exists()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    right = client.post(TWO_FACTOR, {"action": "disable", "code": totp_code(device)})

    assert "That code is not right." in wrong.content.decode()
    assert AccessAttempt.objects.get(username="ada").failures_since_start == 1
    assert right.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert post_login(Client(), "ada", PASSWORD).status_code == 302


def test_new_recovery_codes_replace_the_old_ones(client: Client) -> None:
    user = operator("ada")
    device = confirmed_device(user)
    old = set(recovery_codes_replace(user=user))
    client.force_login(user)

    response = client.post(TWO_FACTOR, {"action": "recovery", "code": totp_code(device)})

    new = set(response.context["codes"])
    assert len(new) == 10
    assert not old & new
    assert set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)) == new


@pytest.fixture
def two_factor_required(settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = True


@pytest.mark.usefixtures("two_factor_required")
def test_when_required_a_staff_user_without_it_can_only_set_it_up(client: Client) -> None:
    user = operator("ada", is_superuser=True)
    assert post_login(client, "ada", PASSWORD).status_code == 302

    index = client.get("/admin/")
    changelist = client.get("/admin/chatusers/chatuser/")
    setup = client.get(TWO_FACTOR)
    device = TOTPDevice.objects.get(user=user)
    client.post(
        TWO_FACTOR, {"action": "confirm", "code": totp_code(device), "next": "/admin/chatusers/chatuser/"}
    )

    assert index.status_code == 302
    assert index["Location"] == f"{TWO_FACTOR}?next=%2Fadmin%2F"
    assert changelist.status_code == 302
    assert setup.status_code == 200
    assert "Two-factor authentication is required on this back office" in setup.content.decode()
    assert client.get("/admin/chatusers/chatuser/").status_code == 200


@pytest.mark.usefixtures("two_factor_required")
def test_when_required_it_cannot_be_turned_off(client: Client) -> None:
    user = operator("ada")
    device = confirmed_device(user)
    assert post_login(client, "ada", PASSWORD, code=totp_code(device)).status_code == 302

    client.post(TWO_FACTOR, {"action": "disable", "code": totp_code(device, steps_ahead=1)})

    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@pytest.mark.usefixtures("two_factor_required")
def test_when_required_logging_out_stays_open(client: Client) -> None:
    operator("ada")
    post_login(client, "ada", PASSWORD)

    response = client.post("/admin/logout/")

    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def _setting_in(environment: dict[str, str], name: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    inherited = {key: value for key, value in os.environ.items() if key != "DJANGO_TWO_FACTOR_REQUIRED"}
    env = {**inherited, "DJANGO_SETTINGS_MODULE": "backoffice.settings", **environment}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=django_settings.BASE_DIR,
    )
    return result.stdout.strip().splitlines()[-1]


def test_two_factor_is_required_in_production_and_optional_embedded() -> None:
    production = {"DJANGO_ENV": "production", "DJANGO_SECRET_KEY": "x" * 60}

    assert _setting_in(production, "TWO_FACTOR_REQUIRED") == "True"
    assert _setting_in({"DJANGO_ENV": "embedded"}, "TWO_FACTOR_REQUIRED") == "False"
    assert (
        _setting_in({**production, "DJANGO_TWO_FACTOR_REQUIRED": "false"}, "TWO_FACTOR_REQUIRED") == "False"
    )


def test_a_superuser_deleting_a_lost_authenticator_lets_the_password_alone_in_again(client: Client) -> None:
    user = operator("ada")
    confirmed_device(user)
    recovery_codes_replace(user=user)

    TOTPDevice.objects.filter(user=user).delete()
    response = post_login(client, "ada", PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)
