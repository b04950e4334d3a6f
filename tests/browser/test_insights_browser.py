"""A bot's insights page in Chromium: the charts draw the stored days (a missing day as a
gap, null in the dataset), the range picker changes the URL and the charts, each CSV holds
the table view's cells, "Refresh now" shows its progress, and nothing breaks the CSP."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from insights.ranges import utc_today
from sandbox.runner import SandboxHandle
from tests.browser.csp import CspWatch
from tests.factories import BotFactory
from tests.factories_content import UserFactory
from tests.insights_rows import PROBLEM, store_days, store_range
from tests.insights_world import start_demo_userbot

pytestmark = pytest.mark.django_db(transaction=True)

CHART_DATA = """key => {
  const canvas = document.querySelector(`[data-chart="${key}"] canvas`);
  const chart = Chart.getChart(canvas);
  return {labels: chart.data.labels, datasets: chart.data.datasets.map(
    d => ({label: d.label, data: d.data, spanGaps: d.spanGaps}))};
}"""
# Kept as the form leaves (this listener runs after the page's own), across the navigation.
WATCH_PROGRESS = """() => {
  const form = document.querySelector('[data-role="refresh"]');
  form.addEventListener("submit", () => {
    const progress = form.querySelector('[data-role="progress"]');
    const button = form.querySelector("button");
    const seen = [progress.textContent.trim(), progress.checkVisibility(), button.disabled];
    sessionStorage.setItem("progress", JSON.stringify([...seen, form.getAttribute("aria-busy")]));
  });
}"""
TABLE_CELLS = """key => [...document.querySelectorAll(`table[data-table="${key}"] tr`)].map(
  row => [...row.querySelectorAll("th, td")].map(cell => cell.textContent))"""


@pytest.fixture
def userbot() -> Iterator[SandboxHandle]:
    with start_demo_userbot() as handle:
        yield handle


def _stored_bot(start: date, end: date, *, missing: list[date]) -> Any:
    bot = BotFactory(name="Shop", sitekey="shop")
    store_days(bot, start, end, missing=missing, invalid=[end - timedelta(days=1)])
    store_range(bot, start, end)
    return bot


def _chart(page: Page, key: str) -> dict[str, Any]:
    page.wait_for_function(
        "key => !!Chart.getChart(document.querySelector(`[data-chart='${key}'] canvas`))", arg=key
    )
    return page.evaluate(CHART_DATA, key)


def test_the_charts_draw_the_stored_days_with_gaps_and_the_csv_holds_the_table(
    admin_page: Page, live_server: LiveServer
) -> None:
    start, end = date(2026, 11, 1), date(2026, 11, 14)
    missing = date(2026, 11, 5)
    bot = _stored_bot(start, end, missing=[missing])
    page = admin_page
    watch = CspWatch(page)

    watch.visit(f"{live_server.url}/admin/insights/daystats/{bot.pk}/?from={start}&to={end}")
    activity = _chart(page, "activity")

    assert activity["labels"] == [(start + timedelta(days=n)).isoformat() for n in range(14)]
    sessions = activity["datasets"][0]
    assert (sessions["label"], sessions["spanGaps"]) == ("Sessions", False)
    assert sessions["data"] == [None if n in (4, 12) else 10 + n for n in range(14)]
    table = page.evaluate(TABLE_CELLS, "activity")
    assert table[5] == ["2026-11-05", "", "", "", "", "missing", ""]
    assert table[13][1:6] == ["", "", "", "", PROBLEM]
    assert [int(row[1]) if row[1] else None for row in table[1:]] == sessions["data"]
    expect(page.locator('[data-chart="activity"] ~ details.insights-table')).not_to_have_attribute("open", "")
    for key in ("activity", "sales", "bots"):
        link = page.locator(f"#{key} a[download]")
        exported = page.request.get(f"{live_server.url}{link.get_attribute('href')}")
        rows = list(csv.reader(io.StringIO(exported.text())))
        inert = [
            [f"'{c}" if c.startswith("=") else c for c in row] for row in page.evaluate(TABLE_CELLS, key)
        ]
        assert rows == inert, key
    watch.collect()
    assert (watch.violations, watch.script_errors) == ([], [])


def test_the_range_picker_changes_the_url_and_the_charts(admin_page: Page, live_server: LiveServer) -> None:
    today = utc_today()
    bot = _stored_bot(today - timedelta(days=40), today, missing=[today - timedelta(days=3)])
    page = admin_page
    page.goto(f"{live_server.url}/admin/insights/daystats/{bot.pk}/")
    assert len(_chart(page, "activity")["labels"]) == 30

    page.get_by_role("link", name="7 days").click()

    page.wait_for_url("**/?preset=7")
    week = _chart(page, "activity")
    assert week["labels"] == [(today - timedelta(days=6 - n)).isoformat() for n in range(7)]
    assert week["datasets"][0]["data"][3:6] == [None, 48, None]  # 3 days ago missing, yesterday invalid
    page.fill('input[name="from"]', (today - timedelta(days=9)).isoformat())
    page.fill('input[name="to"]', (today - timedelta(days=8)).isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**/?from={today - timedelta(days=9)}&to={today - timedelta(days=8)}")
    assert _chart(page, "activity")["datasets"][0]["data"] == [41, 42]


def test_refresh_now_shows_its_progress_then_the_numbers_read(
    admin_page: Page, live_server: LiveServer, userbot: SandboxHandle
) -> None:
    bot = BotFactory(name="Demo", sitekey="test-bot", server_url=userbot.url)
    page = admin_page
    page.goto(f"{live_server.url}/admin/insights/daystats/{bot.pk}/?from=2026-11-10&to=2026-11-16")
    assert _chart(page, "activity")["datasets"][0]["data"] == [None] * 7
    page.evaluate(WATCH_PROGRESS)

    page.get_by_role("button", name="Refresh now").click()

    expect(page.locator(".messagelist .success")).to_have_text(
        "Refreshed 2026-11-10 to 2026-11-16 from Userbot."
    )
    assert page.evaluate("() => JSON.parse(sessionStorage.getItem('progress'))") == [
        "Reading 7 days from Userbot…",
        True,
        True,
        "true",
    ]
    assert _chart(page, "activity")["datasets"][0]["data"] == [0, 0, 2, 4, 1, 0, 1]


def test_without_javascript_the_table_views_are_the_page(browser: Any, live_server: LiveServer) -> None:
    bot = _stored_bot(date(2026, 11, 1), date(2026, 11, 7), missing=[])
    context = browser.new_context(java_script_enabled=False)
    context.add_cookies(_session_cookies(live_server))
    page = context.new_page()

    page.goto(f"{live_server.url}/admin/insights/daystats/{bot.pk}/?from=2026-11-01&to=2026-11-07")

    expect(page.locator("#activity details.insights-table")).to_have_attribute("open", "")
    expect(page.locator("#activity .insights-canvas")).to_be_hidden()
    expect(page.locator('table[data-table="activity"] tbody tr')).to_have_count(7)
    context.close()


def _session_cookies(live_server: LiveServer) -> list[dict[str, Any]]:
    """A superuser's session, made without the login form (the page's script is what is off)."""
    client = Client()
    client.force_login(UserFactory(username="nojs", is_superuser=True))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    return [{"name": cookie.key, "value": cookie.value, "url": live_server.url}]
