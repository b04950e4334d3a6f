"""The operator's door as a person meets it in Chromium: the login page, the lockout after
wrong passwords, setting up two-factor authentication and logging in with a code, the
sessions page, and an old cookie after logout. Every page is also watched for CSP
violations. Screenshots at 1400x900 go to var/screenshots/."""

from __future__ import annotations

from base64 import b32decode
from collections.abc import Iterator
from pathlib import Path

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.accounts.models import UserSession
from tests.browser.conftest import PASSWORD, SCREENSHOTS, TIMEOUT_MS
from tests.browser.csp import CspWatch
from tests.factories_content import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Browsers of their own (each its own cookies), opened with ``_open``, closed after."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def _open(browser: Browser, contexts: list[BrowserContext], user_agent: str | None = None) -> Page:
    context = browser.new_context(viewport=VIEWPORT, user_agent=user_agent)
    context.set_default_timeout(TIMEOUT_MS)
    contexts.append(context)
    return context.new_page()


def _shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"door-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def _log_in(page: Page, url: str, username: str, password: str, code: str = "") -> None:
    page.goto(f"{url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if code:
        page.fill("#id_otp_token", code)
    page.get_by_role("button", name="Log in").click()


def test_wrong_passwords_lock_the_login_and_the_right_one_is_refused(
    browser: Browser, contexts: list[BrowserContext], live_server: LiveServer
) -> None:
    UserFactory(username="admin", is_superuser=True, password=PASSWORD)
    page = _open(browser, contexts)
    watch = CspWatch(page)
    url = live_server.url

    watch.visit(f"{url}/admin/login/")
    expect(page.get_by_label("Two-factor code")).to_be_visible()
    _shot(page, "login")
    for attempt in range(4):
        _log_in(page, url, "admin", f"wrong-{attempt}")
        expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")
    _log_in(page, url, "admin", "wrong-5")
    expect(page.locator(".errornote")).to_have_text("Too many failed logins: logging in is refused for now.")
    expect(page.locator("#content-main")).to_contain_text("for 15 minutes after the last attempt")
    _shot(page, "lockout")
    watch.collect()

    _log_in(page, url, "admin", PASSWORD)

    expect(page.locator(".errornote")).to_have_text("Too many failed logins: logging in is refused for now.")
    page.goto(f"{url}/admin/")
    expect(page).to_have_url(f"{url}/admin/login/?next=/admin/")
    watch.assert_clean()


def _code_for(secret_shown: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app that scanned the page's key shows."""
    key = b32decode(secret_shown.replace(" ", ""))
    totp = TOTP(key, step=30, t0=0, digits=6, drift=0)
    totp.time = totp.time + 30 * steps_ahead
    return f"{totp.token():06d}"


def test_an_operator_sets_up_two_factor_and_logs_in_with_a_code(
    browser: Browser, contexts: list[BrowserContext], live_server: LiveServer
) -> None:
    user = UserFactory(username="ada", is_superuser=True, password=PASSWORD)
    page = _open(browser, contexts)
    watch = CspWatch(page)
    url = live_server.url
    _log_in(page, url, "ada", PASSWORD)
    expect(page).to_have_url(f"{url}/admin/")

    page.get_by_role("link", name="Two-factor authentication").click()
    expect(page.locator("h1")).to_have_text("Set up two-factor authentication")
    expect(page.locator(".qr-code svg")).to_be_visible()
    secret = page.locator(".totp-secret").inner_text()
    _shot(page, "two-factor-setup")
    page.fill("#id_code", _code_for(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()

    expect(page.locator("h1")).to_have_text("Your recovery codes")
    expect(page.locator("ul.codes li")).to_have_count(10)
    recovery = page.locator("ul.codes li").first.inner_text()
    _shot(page, "recovery-codes")
    assert TOTPDevice.objects.get(user=user).confirmed
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("h1")).to_have_text("Logged out")

    _log_in(page, url, "ada", PASSWORD)
    expect(page.locator(".errornote")).to_have_text(
        "Enter the code from your authenticator app, or a recovery code."
    )
    _log_in(page, url, "ada", PASSWORD, code="123456" if _code_for(secret) != "123456" else "654321")
    expect(page.locator(".errornote")).to_contain_text("That two-factor code is not right.")
    _shot(page, "wrong-code")
    page.wait_for_timeout(1100)  # django-otp holds a device back for a second after a wrong code
    _log_in(page, url, "ada", PASSWORD, code=_code_for(secret, steps_ahead=1))
    expect(page).to_have_url(f"{url}/admin/")
    page.get_by_role("button", name="Log out").click()

    _log_in(page, url, "ada", PASSWORD, code=recovery)
    expect(page).to_have_url(f"{url}/admin/")
    page.goto(f"{url}/admin/account/two-factor/")
    expect(page.locator(".codes-left")).to_have_text("9")
    _shot(page, "two-factor-on")
    watch.assert_clean()


def test_an_operator_sees_their_sessions_and_ends_the_other_one(
    browser: Browser, contexts: list[BrowserContext], live_server: LiveServer
) -> None:
    UserFactory(username="ada", is_superuser=True, password=PASSWORD)
    url = live_server.url
    laptop = _open(browser, contexts, user_agent="Laptop browser (Firefox)")
    phone = _open(browser, contexts, user_agent="Phone browser (Safari)")
    watch = CspWatch(laptop)
    _log_in(phone, url, "ada", PASSWORD)
    _log_in(laptop, url, "ada", PASSWORD)
    expect(laptop).to_have_url(f"{url}/admin/")

    laptop.get_by_role("link", name="Sessions").click()
    rows = laptop.locator("#session-list tbody tr")
    expect(rows).to_have_count(2)
    expect(laptop.locator("tr.current-session")).to_contain_text("Laptop browser (Firefox)")
    expect(laptop.locator("tr.current-session")).to_contain_text("This browser")
    expect(rows.filter(has_text="Phone browser (Safari)")).to_contain_text("127.0.0.1")
    _shot(laptop, "sessions")
    rows.filter(has_text="Phone browser (Safari)").get_by_role("button", name="End this session").click()

    expect(laptop.locator(".messagelist .success")).to_have_text(
        "The session has ended: that browser must log in again."
    )
    expect(laptop.locator("#session-list tbody tr")).to_have_count(1)
    phone.goto(f"{url}/admin/")
    expect(phone).to_have_url(f"{url}/admin/login/?next=/admin/")
    assert UserSession.objects.filter(user__username="ada").count() == 1
    watch.assert_clean()


def test_after_logout_the_old_cookie_does_not_get_back_in(
    browser: Browser, contexts: list[BrowserContext], live_server: LiveServer
) -> None:
    UserFactory(username="ada", is_superuser=True, password=PASSWORD)
    url = live_server.url
    page = _open(browser, contexts)
    _log_in(page, url, "ada", PASSWORD)
    expect(page).to_have_url(f"{url}/admin/")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "sessionid"]
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("h1")).to_have_text("Logged out")

    replay = _open(browser, contexts)
    replay.context.add_cookies([cookie])
    replay.goto(f"{url}/admin/")

    expect(replay).to_have_url(f"{url}/admin/login/?next=/admin/")
    expect(replay.locator("#id_username")).to_be_visible()
