"""Sessions: the idle timeout, expiry at browser close, what a password change and a logout
end, forged and replayed cookies, and the operator's own sessions page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.accounts.models import UserSession
from backoffice.accounts.tasks import clear_expired_sessions
from tests.login_helpers import PASSWORD, logged_in, operator, post_login

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/account/sessions/"
NEW_PASSWORD = "another-long-password-42"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _browser(user_agent: str = "Browser A", address: str = "127.0.0.1") -> Client:
    return Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)


def _log_in(client: Client, username: str = "ada") -> Client:
    assert post_login(client, username, PASSWORD, address=client.defaults["REMOTE_ADDR"]).status_code == 302
    return client


def test_sessions_end_after_eight_idle_hours_by_default() -> None:
    assert django_settings.SESSION_COOKIE_AGE == 8 * 3600
    assert django_settings.SESSION_TOUCH_S == 60
    assert django_settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is False


def test_a_request_a_minute_after_the_last_save_moves_the_expiry_on() -> None:
    operator("ada")
    client = _log_in(_browser())
    a_while_ago = timezone.now() - timedelta(minutes=2)
    UserSession.objects.update(expire_date=timezone.now() + timedelta(minutes=5), last_activity=a_while_ago)

    response = client.get("/admin/")

    row = UserSession.objects.get()
    assert response.status_code == 200
    assert row.expire_date > timezone.now() + timedelta(hours=7, minutes=59)
    assert row.last_activity > a_while_ago + timedelta(minutes=1)
    assert response.cookies["sessionid"]["max-age"] == 8 * 3600


def test_requests_within_the_minute_write_nothing_to_the_session() -> None:
    operator("ada")
    client = _log_in(_browser())
    before = UserSession.objects.values_list("expire_date", "last_activity").get()

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/")

    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert not [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert UserSession.objects.values_list("expire_date", "last_activity").get() == before


def test_an_anonymous_visit_makes_no_session() -> None:
    response = _browser().get("/admin/login/")

    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert not UserSession.objects.exists()


def test_an_idle_session_is_refused() -> None:
    operator("ada")
    client = _log_in(_browser())
    UserSession.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_sessions_can_end_when_the_browser_closes(settings: Any) -> None:
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    operator("ada")
    client = _browser()

    response = post_login(client, "ada", PASSWORD)

    cookie = response.cookies["sessionid"]
    assert cookie.value
    assert cookie["max-age"] == ""
    assert cookie["expires"] == ""


def test_the_session_row_records_who_where_and_when() -> None:
    user = operator("ada")
    before = timezone.now()

    _log_in(_browser("Firefox on Linux", "192.0.2.10")).get("/admin/")

    row = UserSession.objects.get()
    assert (row.user_id, row.ip_address, row.user_agent) == (user.pk, "192.0.2.10", "Firefox on Linux")
    assert row.last_activity >= before


def test_django_refuses_other_sessions_once_the_password_changes_by_itself() -> None:
    # What Django does with no help: a session keeps the hash of the password it logged in
    # with, and a request whose hash no longer matches is logged out (and its session flushed).
    user = operator("ada")
    elsewhere = _log_in(_browser("B"))
    user.set_password(NEW_PASSWORD)
    user.save()

    assert not logged_in(elsewhere)


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one() -> None:
    operator("ada")
    here = _log_in(_browser("A"))
    elsewhere = _log_in(_browser("B", "192.0.2.20"))
    assert UserSession.objects.count() == 2

    response = here.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [here.session.session_key]
    assert logged_in(here)
    assert not logged_in(elsewhere)


def test_after_logout_the_old_cookie_is_refused() -> None:
    operator("ada")
    client = _log_in(_browser())
    old_cookie = client.cookies["sessionid"].value

    client.post("/admin/logout/")
    replay = _browser()
    replay.cookies["sessionid"] = old_cookie

    assert not UserSession.objects.filter(session_key=old_cookie).exists()
    assert not logged_in(replay)


def test_a_forged_session_cookie_is_refused() -> None:
    operator("ada")
    _log_in(_browser())
    forged = _browser()
    forged.cookies["sessionid"] = "a" * 32

    response = forged.get("/admin/")

    assert response.status_code == 302
    assert not UserSession.objects.filter(session_key="a" * 32).exists()


def test_a_session_row_with_forged_data_is_refused() -> None:
    # A session key that exists but whose data was not signed with our secret key (written
    # straight into the table, say) is read as empty.
    user = operator("ada")
    UserSession.objects.create(
        session_key="b" * 32,
        session_data=f'{{"_auth_user_id": "{user.pk}"}}',
        expire_date=timezone.now() + timedelta(hours=1),
        user=user,
    )
    forged = _browser()
    forged.cookies["sessionid"] = "b" * 32

    assert not logged_in(forged)


def test_the_sessions_page_lists_the_operators_own_sessions() -> None:
    user = operator("ada")
    operator("bob")
    here = _log_in(_browser("Firefox on Linux", "192.0.2.10"))
    _log_in(_browser("Safari on iPhone", "198.51.100.7"))
    _log_in(_browser("Chrome of Bob", "203.0.113.9"), "bob")

    response = here.get(SESSIONS)

    sessions = response.context["active_sessions"]
    # Most recent first: this browser's row is saved after this page is drawn.
    assert [(s.user_agent, s.ip_address, s.current) for s in sessions] == [
        ("Safari on iPhone", "198.51.100.7", False),
        ("Firefox on Linux", "192.0.2.10", True),
    ]
    page = response.content.decode()
    assert "Chrome of Bob" not in page
    assert "This browser" in page
    assert UserSession.objects.filter(user=user).count() == 2


def test_an_operator_ends_one_other_session() -> None:
    operator("ada")
    here = _log_in(_browser("A"))
    phone = _log_in(_browser("Phone"))
    laptop = _log_in(_browser("Laptop"))
    phone_key = phone.session.session_key

    response = here.post(SESSIONS, {"action": "end", "session_key": phone_key}, follow=True)

    assert "The session has ended" in response.content.decode()
    assert not logged_in(phone)
    assert logged_in(laptop)
    assert logged_in(here)


def test_an_operator_cannot_end_someone_elses_session() -> None:
    operator("ada")
    operator("bob")
    here = _log_in(_browser("A"))
    bob = _log_in(_browser("Bob"), "bob")

    here.post(SESSIONS, {"action": "end", "session_key": bob.session.session_key})

    assert logged_in(bob)


def test_an_operator_ends_every_other_session() -> None:
    operator("ada")
    here = _log_in(_browser("A"))
    others = [_log_in(_browser(f"Other {n}")) for n in range(3)]

    response = here.post(SESSIONS, {"action": "end_others"}, follow=True)

    assert "Ended 3 other sessions." in response.content.decode()
    assert not any(logged_in(other) for other in others)
    assert logged_in(here)


def test_expired_session_rows_are_cleared() -> None:
    operator("ada")
    _log_in(_browser("A"))
    live = _log_in(_browser("B")).session.session_key
    UserSession.objects.exclude(session_key=live).update(expire_date=timezone.now() - timedelta(minutes=1))

    cleared = clear_expired_sessions()

    assert cleared == 1
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [live]
