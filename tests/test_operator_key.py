"""An operator's own Userbot API key: set, replaced and removed from their account page,
kept encrypted, and never shown back, logged, exported or put in an error report."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from io import StringIO
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, models
from django.test import Client
from django.views.debug import SafeExceptionReporterFilter

from backoffice.accounts.models import OperatorKey, UserSession
from backoffice.accounts.selectors import operator_apikey
from backoffice.accounts.services import operator_key_remove, operator_key_set
from backoffice.accounts.sessions import SessionStore
from tests.login_helpers import PASSWORD, confirmed_device, operator, post_login, totp_code

pytestmark = pytest.mark.django_db

PAGE = "/admin/account/userbot-key/"
APIKEY = "ub-live-Q7w2-operator-own-key"
NEW_APIKEY = "ub-live-R9z4-operator-next-key"
SAVED = (
    "Your Userbot key was saved; chats you take over and replies you send will be made as your own "
    "Userbot user."
)
NOT_ONE_WORD = "A Userbot API key is one word without spaces, of at most 500 characters."
EMPTY_INPUT = (
    '<input type="password" name="apikey" autocomplete="new-password" autocapitalize="none" '
    'spellcheck="false" maxlength="500" required aria-describedby="id_apikey_helptext" id="id_apikey">'
)
REFUSED_INPUT = (
    '<input type="password" name="apikey" autocomplete="new-password" autocapitalize="none" '
    'spellcheck="false" maxlength="500" required aria-invalid="true" '
    'aria-describedby="id_apikey_helptext id_apikey_error" id="id_apikey">'
)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ada(client: Client) -> Any:
    """Ada, a staff operator logged in to the admin."""
    user = operator("ada")
    client.force_login(user)
    return user


def stored_ciphertexts() -> list[str]:
    """The key column as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT apikey_ciphertext FROM accounts_operatorkey ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def stored_models() -> list[type[models.Model]]:
    """Every model whose table the test database has (an app still without its migration has none)."""
    tables = set(connection.introspection.table_names())
    return [model for model in apps.get_models() if model._meta.db_table in tables]


def places_holding(text: str) -> list[str]:
    """Every row of every table, and every decoded session, that holds ``text``."""
    found = [
        f"{model._meta.label} #{row[0]}"
        for model in stored_models()
        for row in model._base_manager.values_list()
        if text in repr(row)
    ]
    store = SessionStore()
    found += [
        f"session {row.session_key}"
        for row in UserSession.objects.all()
        if text in repr(store.decode(row.session_data))
    ]
    return found


def logged_with(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if text in record.getMessage()]


def password_inputs(html: str) -> list[str]:
    return re.findall(r'<input type="password"[^>]*>', html)


def test_saving_a_key_keeps_it_encrypted_and_says_how_it_will_be_used(
    client: Client, ada: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    saved = client.post(PAGE, {"action": "save", "apikey": f"  {APIKEY} "})
    page = client.get(PAGE)

    assert saved.status_code == 302
    assert saved["Location"] == PAGE
    assert [str(message) for message in page.context["messages"]] == [SAVED]
    assert OperatorKey.objects.get(user=ada).reveal_apikey() == APIKEY
    [ciphertext] = stored_ciphertexts()
    assert ciphertext.startswith("gAAAAA")
    assert APIKEY not in ciphertext
    assert places_holding(APIKEY) == []
    assert logged_with(caplog, APIKEY) == []
    assert APIKEY not in caplog.text
    assert APIKEY not in saved.content.decode() + page.content.decode()
    assert APIKEY not in str(client.cookies)
    assert list(LogEntry.objects.filter(object_id=str(ada.pk)).values_list("change_message", flat=True)) == [
        "Userbot key set"
    ]


def test_the_page_says_only_whether_a_key_is_set_and_since_when(client: Client, ada: Any) -> None:
    before = client.get(PAGE).content.decode()
    operator_key_set(user=ada, apikey=APIKEY)
    OperatorKey.objects.filter(user=ada).update(set_at=datetime(2026, 3, 1, 14, 5, tzinfo=UTC))

    after = client.get(PAGE).content.decode()

    assert "<strong>You have no Userbot key.</strong>" in before
    assert "<strong>Your Userbot key is set</strong>, since 2026-03-01 14:05 UTC." in after
    assert password_inputs(before) == [EMPTY_INPUT]
    assert password_inputs(after) == [EMPTY_INPUT]
    assert 'value="Replace the key"' in after
    assert 'value="Remove my Userbot key"' in after
    assert APIKEY not in after
    assert OperatorKey.objects.get(user=ada).apikey_ciphertext not in after


def test_replacing_the_key_keeps_only_the_new_one(
    client: Client, ada: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    operator_key_set(user=ada, apikey=APIKEY)
    first_ciphertext = stored_ciphertexts()

    replaced = client.post(PAGE, {"action": "save", "apikey": NEW_APIKEY}, follow=True)

    assert [str(message) for message in replaced.context["messages"]] == [SAVED]
    assert operator_apikey(user=ada) == NEW_APIKEY
    assert OperatorKey.objects.count() == 1
    assert stored_ciphertexts() != first_ciphertext
    assert places_holding(APIKEY) == [] and places_holding(NEW_APIKEY) == []
    assert APIKEY not in caplog.text and NEW_APIKEY not in caplog.text
    assert NEW_APIKEY not in replaced.content.decode()
    assert list(
        LogEntry.objects.filter(object_id=str(ada.pk)).order_by("pk").values_list("change_message", flat=True)
    ) == ["Userbot key set", "Userbot key replaced"]


def test_removing_the_key_forgets_it(client: Client, ada: Any) -> None:
    operator_key_set(user=ada, apikey=APIKEY)

    removed = client.post(PAGE, {"action": "remove"}, follow=True)
    again = client.post(PAGE, {"action": "remove"}, follow=True)

    assert [str(message) for message in removed.context["messages"]] == ["Your Userbot key was removed."]
    assert [str(message) for message in again.context["messages"]] == ["You had no Userbot key."]
    assert operator_apikey(user=ada) is None
    assert stored_ciphertexts() == []
    assert "<strong>You have no Userbot key.</strong>" in again.content.decode()
    assert 'value="Remove my Userbot key"' not in again.content.decode()
    assert list(
        LogEntry.objects.filter(object_id=str(ada.pk)).order_by("pk").values_list("change_message", flat=True)
    ) == ["Userbot key set", "Userbot key removed"]


@pytest.mark.parametrize(
    "typed",
    [f"{APIKEY} {NEW_APIKEY}", f"{APIKEY}\t-tail", APIKEY + "x" * (501 - len(APIKEY))],
    ids=["two words", "a tab", "501 characters"],
)
def test_a_key_that_is_not_one_word_is_refused_without_being_shown_back(
    client: Client, ada: Any, caplog: pytest.LogCaptureFixture, typed: str
) -> None:
    caplog.set_level(logging.DEBUG)

    response = client.post(PAGE, {"action": "save", "apikey": typed})

    html = response.content.decode()
    assert response.status_code == 200
    assert NOT_ONE_WORD in html
    assert password_inputs(html) == [REFUSED_INPUT]
    assert APIKEY not in html
    assert APIKEY not in caplog.text
    assert OperatorKey.objects.exists() is False
    assert LogEntry.objects.exists() is False


def test_an_empty_key_is_refused_and_the_one_set_stays(client: Client, ada: Any) -> None:
    operator_key_set(user=ada, apikey=APIKEY)

    response = client.post(PAGE, {"action": "save", "apikey": "   "})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert operator_apikey(user=ada) == APIKEY


def test_an_operator_changes_only_their_own_key(client: Client, ada: Any) -> None:
    bob = operator("bob")
    operator_key_set(user=bob, apikey=APIKEY)

    client.post(PAGE, {"action": "save", "apikey": NEW_APIKEY, "user": bob.pk, "user_id": bob.pk})
    client.post(PAGE, {"action": "remove", "user": bob.pk, "user_id": bob.pk})
    client.post(f"{PAGE}?user={bob.pk}", {"action": "remove"})

    assert operator_apikey(user=bob) == APIKEY
    assert operator_apikey(user=ada) is None
    assert list(LogEntry.objects.order_by("pk").values_list("object_id", "change_message")) == [
        (str(bob.pk), "Userbot key set"),
        (str(ada.pk), "Userbot key set"),
        (str(ada.pk), "Userbot key removed"),
    ]


def test_only_a_post_changes_the_key(client: Client, ada: Any) -> None:
    operator_key_set(user=ada, apikey=APIKEY)

    got = client.get(PAGE, {"action": "remove"})
    saved_by_get = client.get(PAGE, {"action": "save", "apikey": NEW_APIKEY})
    put = client.put(PAGE, "action=remove", content_type="application/x-www-form-urlencoded")
    deleted = client.delete(PAGE)

    assert (got.status_code, saved_by_get.status_code, put.status_code, deleted.status_code) == (
        200,
        200,
        405,
        405,
    )
    assert operator_apikey(user=ada) == APIKEY


def test_a_post_without_the_csrf_token_changes_nothing() -> None:
    user = operator("ada")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    operator_key_set(user=user, apikey=APIKEY)

    saved = client.post(PAGE, {"action": "save", "apikey": NEW_APIKEY})
    removed = client.post(PAGE, {"action": "remove"})

    assert (saved.status_code, removed.status_code) == (403, 403)
    assert operator_apikey(user=user) == APIKEY


def test_a_user_who_is_not_staff_is_sent_to_the_login(client: Client) -> None:
    outsider = get_user_model().objects.create_user("eve", password=PASSWORD)
    client.force_login(outsider)

    page = client.get(PAGE)
    saved = client.post(PAGE, {"action": "save", "apikey": APIKEY})

    assert (page.status_code, page["Location"]) == (302, f"/admin/login/?next={PAGE}")
    assert (saved.status_code, saved["Location"]) == (302, f"/admin/login/?next={PAGE}")
    assert OperatorKey.objects.exists() is False


def test_a_visitor_not_logged_in_is_sent_to_the_login(client: Client) -> None:
    saved = client.post(PAGE, {"action": "save", "apikey": APIKEY})

    assert (saved.status_code, saved["Location"]) == (302, f"/admin/login/?next={PAGE}")
    assert OperatorKey.objects.exists() is False


def test_when_two_factor_is_required_the_key_waits_for_the_second_factor(
    client: Client, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    ada = operator("ada")
    device = confirmed_device(ada)
    unverified = Client()
    unverified.force_login(ada)
    assert post_login(client, "ada", PASSWORD, code=totp_code(device)).status_code == 302

    refused = unverified.post(PAGE, {"action": "save", "apikey": NEW_APIKEY})
    saved = client.post(PAGE, {"action": "save", "apikey": APIKEY})

    assert (refused.status_code, refused["Location"]) == (
        302,
        f"/admin/account/two-factor/?next={quote(PAGE, safe='')}",
    )
    assert (saved.status_code, saved["Location"]) == (302, PAGE)
    assert operator_apikey(user=ada) == APIKEY


def test_every_admin_page_links_to_the_key_page(client: Client, ada: Any) -> None:
    index = client.get("/admin/").content.decode()
    sessions = client.get("/admin/account/sessions/").content.decode()

    link = f'<a href="{PAGE}">Userbot key</a>'
    assert link in index
    assert link in sessions


def test_the_key_is_on_no_admin_page_and_in_no_export(client: Client, ada: Any) -> None:
    admin_user = operator("root", is_superuser=True)
    operator_key_set(user=ada, apikey=APIKEY)
    client.force_login(admin_user)

    pages = {
        url: client.get(url).content.decode()
        for url in (
            "/admin/",
            "/admin/auth/user/",
            f"/admin/auth/user/{ada.pk}/change/",
            f"/admin/auth/user/{ada.pk}/history/",
        )
    }
    dumped = StringIO()
    call_command("dumpdata", *(model._meta.label for model in stored_models()), stdout=dumped)

    assert OperatorKey not in admin.site._registry
    assert [url for url, html in pages.items() if APIKEY in html] == []
    assert "Userbot key set" in pages[f"/admin/auth/user/{ada.pk}/history/"]
    assert '"model": "accounts.operatorkey"' in dumped.getvalue()
    assert APIKEY not in dumped.getvalue()


def test_an_error_report_of_the_post_masks_the_key(client: Client, ada: Any) -> None:
    saved = client.post(PAGE, {"action": "save", "apikey": APIKEY})

    parameters = SafeExceptionReporterFilter().get_post_parameters(saved.wsgi_request)

    assert parameters["apikey"] == "********************"
    assert parameters["action"] == "save"


def test_the_selector_reveals_the_key_of_that_operator_only() -> None:
    ada, bob = operator("ada"), operator("bob")

    operator_key_set(user=ada, apikey=APIKEY)

    assert operator_apikey(user=ada) == APIKEY
    assert operator_apikey(user=bob) is None
    assert operator_key_remove(user=bob) is False
    assert operator_key_remove(user=ada) is True
    assert operator_apikey(user=ada) is None


def test_the_service_refuses_a_key_of_two_words_without_quoting_it() -> None:
    ada = operator("ada")

    with pytest.raises(ValidationError) as refused:
        operator_key_set(user=ada, apikey=f"{APIKEY} {NEW_APIKEY}")

    error = refused.value
    assert error.messages == [NOT_ONE_WORD]
    assert [(item.code, item.params) for item in error.error_list] == [("invalid_apikey", None)]
    assert APIKEY not in repr(error) and APIKEY not in str(error)
    assert OperatorKey.objects.exists() is False


def test_the_model_shows_its_user_and_never_its_key() -> None:
    ada = operator("ada")

    key = operator_key_set(user=ada, apikey=APIKEY)

    assert str(key) == f"Userbot key of user {ada.pk}"
    assert repr(key) == f"<OperatorKey of user {ada.pk}>"
    assert ada.userbot_key.reveal_apikey() == APIKEY
