"""A headless Chromium for the package's tests, a page per test, and a superuser logged in to the admin.

The pages are served by pytest-django's ``live_server``. Without Chromium installed every
test here is skipped with the reason; the test script installs it before the suite runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, sync_playwright
from pytest_django.live_server_helper import LiveServer

from tests.factories_content import UserFactory

CHROMIUM = Path("/usr/bin/chromium")
# Chromium reaches out for updates, sync, field trials and QUIC probes unless told not
# to; on a machine with no route out those attempts only stall the page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "a-long-test-password"
TIMEOUT_MS = 10_000
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


@pytest.fixture(scope="package")
def _orm_beside_the_event_loop() -> Iterator[None]:
    """Playwright's sync API keeps an asyncio event loop running in the test thread while
    the browser is open, and Django refuses ORM calls from a thread with a running loop
    (SynchronousOnlyOperation). The ORM calls made here (factories, database checks, the
    test database's flushes) are plain synchronous code between browser steps, never
    inside a coroutine, so the guard protects nothing: it is lifted while these tests run
    and restored after them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


# One browser for every test of this package. It closes when the package's tests are done,
# not at the end of the whole run: its event loop would otherwise keep running under every
# later test, where Django's guard would refuse the ORM.
@pytest.fixture(scope="package")
def browser(_orm_beside_the_event_loop: None) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed; scripts/test installs Chromium before the tests run")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def admin_page(page: Page, live_server: LiveServer) -> Page:
    """A page logged in as a fresh superuser through the admin's own login form."""
    user = UserFactory(username="admin", is_superuser=True, password=PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return page


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, page: Page) -> Callable[..., Path]:
    """``screenshot()`` saves the whole page as ``var/screenshots/<test name>.png``;
    ``screenshot("step")`` as ``<test name>-step.png``, for a page on the way. A long list
    is better seen as its first screen: ``full_page=False``."""

    def take(step: str = "", *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}{'-' + step if step else ''}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
