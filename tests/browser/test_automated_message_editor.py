"""The automated message editor in a browser: conditions and answers with nested buttons, one page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from automation.models import AutomatedMessage, Button
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_message_with_conditions_and_a_second_answer_added_in_the_browser_is_saved_whole(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[[], Path]
) -> None:
    bot = BotFactory(name="Shop bot")
    page = admin_page
    page.goto(f"{live_server.url}/admin/automation/automatedmessage/add/")

    page.select_option("#id_bot", str(bot.pk))
    page.fill("#id_name", "Pricing help")
    page.select_option("#id_trigger", "time_on_page")
    page.fill("#id_delay_seconds", "30")

    page.select_option("#id_conditions-0-field", "url")
    page.select_option("#id_conditions-0-op", "contains")
    page.fill("#id_conditions-0-value", "/pricing")
    page.get_by_role("button", name="Add another Condition").click()
    page.select_option("#id_conditions-1-field", "variable")
    page.select_option("#id_conditions-1-op", "gt")
    page.fill("#id_conditions-1-value", "3")
    page.fill("#id_conditions-1-name", "visits")

    page.select_option("#id_answers-0-type", "text")
    page.fill("#id_answers-0-text", "Hi there!")
    page.get_by_role("button", name="Add another Answer").click()
    page.select_option("#id_answers-1-type", "buttons")
    page.fill("#id_answers-1-text", "Can I help?")
    page.fill("#id_answers-1-buttons-0-label", "Yes please")
    page.fill("#id_answers-1-buttons-0-value", "yes")
    page.fill("#id_answers-1-buttons-1-label", "No thanks")
    page.fill("#id_answers-1-buttons-1-value", "no")
    # The clone of the blank answer carries its own buttons formset, renumbered under its prefix.
    expect(page.locator("#id_answers-1-buttons-TOTAL_FORMS")).to_have_value("3")
    expect(page.locator("#answers-1 [name*=__prefix__]")).to_have_count(0)
    screenshot()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist .success")).to_contain_text("Pricing help")
    message = AutomatedMessage.objects.get()
    assert (message.bot_id, message.name, message.trigger, message.delay_seconds, message.enabled) == (
        bot.pk,
        "Pricing help",
        "time_on_page",
        30,
        True,
    )
    assert list(message.conditions.values_list("position", "field", "op", "value", "name")) == [
        (0, "url", "contains", "/pricing", ""),
        (1, "variable", "gt", "3", "visits"),
    ]
    assert list(message.answers.values_list("position", "type", "text", "url")) == [
        (0, "text", "Hi there!", ""),
        (1, "buttons", "Can I help?", ""),
    ]
    assert list(Button.objects.values_list("answer__position", "position", "label", "value")) == [
        (1, 0, "Yes please", "yes"),
        (1, 1, "No thanks", "no"),
    ]


def test_answer_removed_before_saving_renumbers_the_buttons_of_the_answers_after_it(
    admin_page: Page, live_server: LiveServer, screenshot: Callable[[], Path]
) -> None:
    bot = BotFactory()
    page = admin_page
    page.goto(f"{live_server.url}/admin/automation/automatedmessage/add/")
    page.select_option("#id_bot", str(bot.pk))
    page.fill("#id_name", "Exit offer")
    page.select_option("#id_trigger", "exit_intent")
    page.select_option("#id_conditions-0-field", "language")
    page.select_option("#id_conditions-0-op", "eq")
    page.fill("#id_conditions-0-value", "it")
    page.fill("#id_answers-0-text", "Wait!")
    add_answer = page.get_by_role("button", name="Add another Answer")
    add_answer.click()
    page.fill("#id_answers-1-text", "Dropped before saving")
    add_answer.click()
    page.select_option("#id_answers-2-type", "buttons")
    page.fill("#id_answers-2-text", "Want a discount?")
    page.fill("#id_answers-2-buttons-0-label", "Sure")
    page.fill("#id_answers-2-buttons-0-value", "discount")

    page.locator("#answers-1 .inline-deletelink").click()

    expect(page.locator("#id_answers-TOTAL_FORMS")).to_have_value("2")
    expect(page.locator("#id_answers-1-buttons-0-label")).to_have_value("Sure")
    expect(page.locator("[name^=answers-2-]")).to_have_count(0)
    screenshot()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist .success")).to_contain_text("Exit offer")
    message = AutomatedMessage.objects.get()
    assert (message.name, message.trigger, message.delay_seconds) == ("Exit offer", "exit_intent", 0)
    assert list(message.conditions.values_list("position", "field", "op", "value", "name")) == [
        (0, "language", "eq", "it", "")
    ]
    assert list(message.answers.values_list("position", "type", "text")) == [
        (0, "text", "Wait!"),
        (1, "buttons", "Want a discount?"),
    ]
    assert list(Button.objects.values_list("answer__position", "position", "label", "value")) == [
        (1, 0, "Sure", "discount")
    ]
