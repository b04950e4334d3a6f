"""The operator's admin as a new operator meets it, in Chromium: the product's name and
dashboard, lists that fit the screen, true counts, one date format, the segment builder,
the import's way to Userbot, the sync pages, and the keyboard. Screenshots of the main
pages at 1400 x 900 and 1024 x 768 are saved under var/screenshots/ for a person to see."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.cache import cache
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.sync.models import OutboxEntry, SyncConflict
from chatusers.import_models import ImportJob
from chatusers.models import ChatUser, ChatUserSync, Tag
from tests.browser.csp import CspWatch
from tests.browser.operator_world import operator_world
from tests.factories import BotFactory, ChatUserFactory
from tests.imports import run_import

pytestmark = pytest.mark.django_db(transaction=True)

CHATUSERS = "/admin/chatusers/chatuser/"
# The text of each element as written, not as CSS shows it (headers are upper-cased).
TEXTS = "elements => elements.map(e => e.textContent.trim())"
# One way to write a moment: 2026-03-01 14:05 UTC.
EXACT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d [A-Z]{2,5}$")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _no_violations(watch: CspWatch) -> None:
    watch.assert_clean()


def _crumbs(page: Page) -> list[str]:
    return [crumb.strip() for crumb in page.locator(".breadcrumbs").inner_text().split("\u203a")]


# --- the index ------------------------------------------------------------------------------


def test_the_index_names_the_product_groups_the_models_and_shows_each_bots_figures(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    page = admin_page
    watch = CspWatch(page)

    watch.visit(f"{live_server.url}/admin/")

    expect(page.locator("#site-name")).to_have_text("Userbot back office")
    assert page.title() == "Dashboard | Userbot back office"
    captions = page.locator("#content-main .module caption").evaluate_all(TEXTS)
    assert captions[:6] == ["People", "Chats", "Knowledge", "Automation", "Sync", "Imports"]
    sync = page.locator("#content-main .app-sync th[scope=row]").all_inner_texts()
    assert sync == ["Sync status", "Dead letters", "Conflicts", "Outbox", "Bots"]
    row = page.locator(f"#dashboard tr[data-sitekey='{world.bot.sitekey}']")
    figures = {
        name: row.locator(f"[data-figure={name}]").inner_text()
        for name in ("chatusers", "pending", "conflicts", "deleted_on_userbot", "dead_letters", "last_pull")
    }
    assert figures == {
        "chatusers": "13",
        "pending": "2",  # the conflicted one's parked entry and the deleted one's change
        "conflicts": "2",
        "deleted_on_userbot": "1",
        "dead_letters": "1",
        "last_pull": "3 min ago",
    }
    row.locator("[data-figure=dead_letters]").click()
    expect(page.locator("h1")).to_have_text("Dead letters")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.go_back()
    row.locator("[data-figure=deleted_on_userbot]").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody")).to_contain_text("Ugo Gallo")
    _no_violations(watch)


# --- the chat user list -----------------------------------------------------------------------


def test_the_chat_user_list_fits_a_1400_px_screen_and_the_operator_picks_its_columns(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    page = admin_page
    page.set_viewport_size({"width": 1400, "height": 900})
    watch = CspWatch(page)

    watch.visit(f"{live_server.url}{CHATUSERS}")

    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    results = page.locator("#changelist .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth")  # no column runs off
    headers = page.locator("#result_list thead th").evaluate_all(TEXTS)
    assert [h.strip() for h in headers[1:]] == [
        "Chat user",
        "Channel",
        "Language",
        "Tags",
        "Last seen",
        "Sync state",
    ]
    email = page.locator("#result_list th.field-display_name .cut", has_text="alessandra.della")
    assert email.get_attribute("title") == world.alessandra.email
    assert email.evaluate("e => e.scrollWidth > e.clientWidth")  # cut, the whole in the tooltip
    page.locator("details.column-picker summary").click()
    page.get_by_label("Phone").check()
    page.wait_for_load_state("load")
    expect(page.locator("#result_list thead th.column-phone")).to_be_visible()
    page.reload()  # the choice stays
    expect(page.locator("#result_list thead th.column-phone")).to_be_visible()
    page.locator("details.column-picker summary").click()
    page.get_by_role("link", name="Back to the usual columns").click()
    page.wait_for_load_state("load")
    expect(page.locator("#result_list thead th.column-phone")).to_have_count(0)
    _no_violations(watch)


def test_a_search_past_the_count_cap_says_over_and_why(
    admin_page: Page, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatusers.admin import pagination

    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    bot = BotFactory()
    for n in range(8):
        ChatUserFactory(bot=bot, name=f"Rossi{n}")
    ChatUserFactory(bot=bot, name="Bianchi", surname="Verdi")
    page = admin_page

    page.goto(f"{live_server.url}{CHATUSERS}?q=rossi")
    over = page.locator(".search-result-count").inner_text()
    page.goto(f"{live_server.url}{CHATUSERS}?q=bianchi")
    exact = page.locator(".search-result-count").inner_text()

    assert over.startswith("over 5 results, not counted further (counting every match is slow)")
    assert exact.startswith("1 result")
    page.goto(f"{live_server.url}{CHATUSERS}?q=rossi")
    expect(page.locator(".paginator .count-note")).to_contain_text("Not counted past 5")


def test_saving_a_chat_user_leaves_last_seen_alone_and_out_of_the_history(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    chatuser = world.alessandra
    seen = chatuser.last_seen_at
    assert seen.microsecond  # what an edit form would have rounded away
    page = admin_page

    page.goto(f"{live_server.url}{CHATUSERS}{chatuser.pk}/change/")
    expect(page.locator("#id_last_seen_at_0")).to_have_count(0)
    last_seen = page.locator(".field-last_seen_moment time")
    assert EXACT.match(last_seen.get_attribute("title") or "")
    page.fill("#id_name", "Alessandra Maria")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist .success")).to_be_visible()

    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.last_seen_at) == ("Alessandra Maria", seen)
    messages = list(
        LogEntry.objects.filter(object_id=str(chatuser.pk), content_type__model="chatuser")
        .order_by("pk")
        .values_list("change_message", flat=True)
    )
    assert messages == ["Changed name"]


def test_variables_are_one_line_and_their_names_come_from_the_catalogue(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    page = admin_page

    page.goto(f"{live_server.url}{CHATUSERS}{world.alessandra.pk}/change/")

    value = page.locator("#id_variables-0-value")
    assert value.get_attribute("rows") == "1"
    assert value.evaluate("e => e.getBoundingClientRect().height") < 40
    assert page.locator("#id_variables-0-name").get_attribute("list") == "variable-catalogue"
    options = page.locator("datalist#variable-catalogue option")
    assert [o.get_attribute("value") for o in options.all()] == ["birthday", "city", "plan"]


# --- the shared look -------------------------------------------------------------------------------


def test_breadcrumbs_name_each_level_once_the_favicon_loads_and_dates_have_one_format(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    page = admin_page
    watch = CspWatch(page)
    favicon_misses: list[str] = []
    page.on(
        "response", lambda r: favicon_misses.append(r.url) if "favicon" in r.url and r.status != 200 else None
    )

    watch.visit(f"{live_server.url}{CHATUSERS}{world.alessandra.pk}/change/")
    assert _crumbs(page) == ["Home", "People", "Chat users", str(world.alessandra)]
    icon = page.locator("link[rel=icon][sizes]").get_attribute("href") or ""
    assert icon.endswith("favicon.ico")
    fetched = page.request.get(f"{live_server.url}{icon}")
    assert (fetched.status, fetched.headers["content-type"]) == (200, "image/vnd.microsoft.icon")
    watch.visit(f"{live_server.url}/admin/chatusers/importjob/")
    assert _crumbs(page) == ["Home", "Imports", "Import history"]

    moments = []
    for path in (
        CHATUSERS,
        f"{CHATUSERS}{world.alessandra.pk}/change/",
        f"{CHATUSERS}{world.alessandra.pk}/history/",
        "/admin/sync/botsync/",
        "/admin/sync/syncconflict/",
        "/admin/chatusers/segment/",
    ):
        watch.visit(f"{live_server.url}{path}")
        moments += page.locator("time").evaluate_all("ts => ts.map(t => t.title || t.textContent)")
        moments += page.locator("#change-history th[scope=row]").all_inner_texts()
    assert moments and all(EXACT.match(m.strip()) for m in moments), moments
    relative = page.locator("time[data-relative]")
    assert relative.count() == 0 or re.match(
        r"^(just now|\d+ (min|h|days?) ago)$", relative.first.inner_text()
    )
    assert favicon_misses == []
    _no_violations(watch)


# --- segments ----------------------------------------------------------------------------------------


def test_the_segment_list_counts_and_the_builder_counts_live_with_the_bots_values(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    page = admin_page
    watch = CspWatch(page)

    watch.visit(f"{live_server.url}/admin/chatusers/segment/")
    counts = dict(
        zip(
            page.locator("#result_list td.field-name, #result_list th.field-name").all_inner_texts(),
            page.locator("#result_list td.field-chatusers_matching").all_inner_texts(),
            strict=True,
        )
    )
    assert counts == {"Everyone": "13", "Italian VIPs": "6"}

    watch.visit(f"{live_server.url}/admin/chatusers/segment/add/")
    expect(page.locator("#id_bot")).to_have_value(str(world.bot.pk))  # the only bot, chosen
    expect(page.locator("#segment-live-count")).to_have_text("13")  # all of no filter: everyone
    page.select_option("#id_filters-0-field", "language")
    page.select_option("#id_filters-0-op", "eq")
    value = page.locator("#id_filters-0-value")
    value.click()
    assert value.get_attribute("list") == "segment-values-language"
    options = page.locator("#segment-values-language option")
    assert [o.get_attribute("value") for o in options.all()] == ["de", "en", "it"]
    value.fill("it")
    expect(page.locator("#segment-live-count")).to_have_text("7")
    page.select_option("#id_filters-0-field", "channel")
    page.locator("#id_filters-0-value").click()
    assert page.locator("#id_filters-0-value").get_attribute("list") == "segment-values-channel"
    page.fill("#id_filters-0-value", "whatsapp")
    expect(page.locator("#segment-live-count")).to_have_text("3")
    page.select_option("#id_filters-0-field", "variable")
    page.select_option("#id_filters-0-op", "exists")
    page.locator("#id_filters-0-name").click()
    assert page.locator("#id_filters-0-name").get_attribute("list") == "segment-variable-names"
    variables = page.locator("#segment-variable-names option")
    assert [o.get_attribute("value") for o in variables.all()] == ["birthday", "city", "plan"]
    page.fill("#id_filters-0-name", "city")
    page.fill("#id_filters-0-value", "")
    expect(page.locator("#segment-live-count")).to_have_text("1")
    page.select_option("#id_filters-0-op", "gt")
    page.select_option("#id_filters-0-field", "created_at")
    page.fill("#id_filters-0-name", "")
    page.fill("#id_filters-0-value", "not a date")
    expect(page.locator("#segment-live-note")).to_contain_text("Enter a date")

    watch.visit(f"{live_server.url}/admin/chatusers/segment/{world.segment.pk}/change/")
    captions = page.locator("#filters-group td.original p").all_inner_texts()
    assert [c.strip() for c in captions] == ["Language equals “it”", "Tag equals “vip”"]
    _no_violations(watch)


# --- knowledge ----------------------------------------------------------------------------------------


def test_the_knowledge_language_filter_lists_the_languages_present(
    admin_page: Page, live_server: LiveServer
) -> None:
    operator_world()
    page = admin_page

    page.goto(f"{live_server.url}/admin/knowledge/interaction/")

    choices = (
        page.locator("#changelist-filter details", has_text="language").locator("li a").all_inner_texts()
    )
    assert [c.strip() for c in choices] == ["All", "de", "en", "it"]
    page.get_by_role("link", name="de", exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)


# --- imports -----------------------------------------------------------------------------------------


def test_the_import_maps_to_catalogue_variables_and_follows_its_rows_to_userbot(
    admin_page: Page, live_server: LiveServer, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    world = operator_world()
    page = admin_page
    watch = CspWatch(page)
    monkeypatch.setattr("chatusers.tasks.import_run.delay", lambda job_id: _run_now(job_id))
    csv = "Email,First name,City,Plan,Shoe size\nzoe@example.com,Zoe,Milan,silver,38\n"

    watch.visit(f"{live_server.url}/admin/chatusers/importjob/upload/")
    page.set_input_files(
        "#id_file", files=[{"name": "fair.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_role("button", name="Upload and map the columns").click()
    expect(page.locator("h1")).to_have_text("Map the columns of fair.csv")
    catalogue = page.locator('#id_target_2 optgroup[label="The bot\'s variables"] option').all_inner_texts()
    assert catalogue == ["birthday", "city", "plan"]
    # Columns named like a catalogue variable go to it without a choice.
    expect(page.locator("#id_target_2")).to_have_value("var:city")
    expect(page.locator("#id_target_3")).to_have_value("var:plan")
    page.fill("#id_extra_tags", "fair-2026")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("h1")).to_have_text("Import of fair.csv")
    push = page.locator("#import-push")
    expect(push.locator("[data-push=pending]")).to_have_text("1")
    expect(push.locator("[data-push=headline]")).to_contain_text("Sending")

    zoe = ChatUser.objects.get(email="zoe@example.com")
    assert dict(zoe.variables.values_list("name", "value")) == {"city": "Milan", "plan": "silver"}
    # The relay sends it: the page follows, without a reload.
    OutboxEntry.objects.filter(object_id=zoe.pk).delete()
    ChatUserSync.objects.filter(pk=zoe.pk).update(sync_state="synced", remote_id="r-zoe")
    expect(push.locator("[data-push=headline]")).to_contain_text("Done", timeout=8000)
    expect(push.locator("[data-push=synced]")).to_have_text("1")

    job = ImportJob.objects.get(original_name="fair.csv", dry_run=False)
    watch.visit(f"{live_server.url}/admin/chatusers/importjob/{job.pk}/undo/")
    expect(page.locator(".import-undo-summary").last).to_contain_text("Delete the tags it created (1)")
    page.get_by_role("button", name="Yes, undo the import").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Of the tags it created, 1 deleted here, 0 kept"
    )
    assert not Tag.objects.filter(name="fair-2026").exists()
    assert Tag.objects.filter(bot=world.bot).count() == 4
    _no_violations(watch)


def _run_now(job_id: int) -> None:
    from chatusers.imports.run import import_job_run

    import_job_run(job_id=job_id)


# --- sync --------------------------------------------------------------------------------------------


def test_a_change_page_follows_its_push_and_answers_a_deletion_on_userbot(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    page = admin_page
    watch = CspWatch(page)
    ChatUserSync.objects.filter(pk=world.alessandra.pk).update(sync_state="pending")
    OutboxEntry.objects.create(bot=world.bot, object_type="chatusers.chatuser", object_id=world.alessandra.pk)

    watch.visit(f"{live_server.url}{CHATUSERS}{world.alessandra.pk}/change/")
    expect(page.locator(".field-sync_state .readonly")).to_have_text("Pending")
    expect(page.locator(".sync-live-note")).to_contain_text("waiting to be sent to Userbot")
    OutboxEntry.objects.filter(object_id=world.alessandra.pk).update(state="in_flight")
    expect(page.locator(".sync-live-note")).to_contain_text("being sent to Userbot")
    OutboxEntry.objects.filter(object_id=world.alessandra.pk).delete()
    ChatUserSync.objects.filter(pk=world.alessandra.pk).update(sync_state="synced")
    expect(page.locator(".field-sync_state .readonly")).to_have_text("Synced", timeout=8000)
    expect(page.locator(".field-synced_moment time")).to_be_visible()

    watch.visit(f"{live_server.url}{CHATUSERS}{world.deleted_on_userbot.pk}/change/")
    note = page.locator("#sync-deleted-note")
    expect(note).to_contain_text("Deleted on Userbot while a change made here waited to be sent")
    note.get_by_role("button", name="Restore on Userbot").click()
    expect(page.locator(".messagelist .success")).to_contain_text("queued to be created on Userbot again")
    assert page.url.endswith(f"{CHATUSERS}{world.deleted_on_userbot.pk}/change/")
    expect(page.locator("#sync-deleted-note")).to_have_count(0)
    assert not SyncConflict.objects.filter(resolution="open", field="(deleted on Userbot)").exists()
    _no_violations(watch)


def test_dead_letters_have_their_own_page_with_retry_and_ignore(
    admin_page: Page, live_server: LiveServer
) -> None:
    world = operator_world()
    page = admin_page
    watch = CspWatch(page)

    watch.visit(f"{live_server.url}/admin/")
    page.locator("#nav-sidebar, #content-main").get_by_role("link", name="Dead letters").first.click()
    expect(page.locator("h1")).to_have_text("Dead letters")
    assert _crumbs(page) == ["Home", "Sync", "Dead letters"]
    current = page.locator("#nav-sidebar a[aria-current=page]").evaluate_all(TEXTS)
    assert current == ["Dead letters"]  # not the outbox too, whose address it is under
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list .action-select").check()
    page.select_option("select[name=action]", "retry_entries")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Queued again 1 dead entry.")
    expect(page.locator("h1")).to_have_text("Dead letters")
    expect(page.locator("#result_list")).to_have_count(0)
    assert OutboxEntry.objects.get(object_id=world.dead.pk).state == "pending"
    _no_violations(watch)


# --- the keyboard --------------------------------------------------------------------------------------


def test_keyboard_slash_searches_j_and_k_move_e_edits_and_question_mark_helps(
    admin_page: Page, live_server: LiveServer
) -> None:
    operator_world()
    page = admin_page
    watch = CspWatch(page)
    watch.visit(f"{live_server.url}{CHATUSERS}")

    page.keyboard.press("?")
    expect(page.locator("#kb-help")).to_be_visible()
    expect(page.locator("#kb-help")).to_contain_text("Search this list")
    page.keyboard.press("Escape")
    expect(page.locator("#kb-help")).to_be_hidden()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    current = page.locator("#result_list tbody tr.kb-current")
    expect(current).to_have_count(1)
    first_name = page.locator("#result_list tbody tr").first.locator("th .cut").first.inner_text()
    assert current.locator("th .cut").first.inner_text() == first_name
    page.keyboard.press("e")
    expect(page.locator(".breadcrumbs")).to_contain_text(first_name.strip())
    page.go_back()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "searchbar"
    page.keyboard.type("bianchi")
    page.keyboard.press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    _no_violations(watch)


# --- saved views -------------------------------------------------------------------------------------


def test_a_filtered_list_saved_under_a_name_opens_again_from_the_sidebar(
    admin_page: Page, live_server: LiveServer
) -> None:
    operator_world()
    page = admin_page
    watch = CspWatch(page)
    watch.visit(f"{live_server.url}{CHATUSERS}?channel__exact=whatsapp&q=example")
    page.locator("details.column-picker summary").click()
    page.get_by_label("Phone").check()
    page.wait_for_load_state("load")

    page.locator("details.save-view summary").click()
    page.fill("#saved-view-name", "WhatsApp people")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_contain_text("Saved as “WhatsApp people”")
    page.locator("details.column-picker summary").click()
    page.get_by_role("link", name="Back to the usual columns").click()  # columns back to usual
    page.wait_for_load_state("load")
    watch.visit(f"{live_server.url}/admin/")
    page.locator("#content-main .app-saved-views").get_by_role("link", name="WhatsApp people").click()

    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    expect(page.locator("#result_list thead th.column-phone")).to_be_visible()
    assert page.locator("#searchbar").input_value() == "example"
    sidebar = page.locator("#nav-sidebar .app-saved-views")
    expect(sidebar).to_contain_text("WhatsApp people")
    _no_violations(watch)


# --- screenshots -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1400, 900), (1024, 768)], ids=["1400x900", "1024x768"])
def test_screenshots_of_the_operator_pages(
    admin_page: Page,
    live_server: LiveServer,
    screenshot: Callable[..., Path],
    size: tuple[int, int],
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    world = operator_world()
    admin = get_user_model().objects.get(username="admin")
    job = run_import(
        world.bot, admin, "email,name,city\nzoe@example.com,Zoe,Milan\nteo@example.com,Teo,Rome\n"
    )
    page = admin_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    watch = CspWatch(page)
    pages = {
        "index": "/admin/",
        "chatuser-list": CHATUSERS,
        "chatuser": f"{CHATUSERS}{world.alessandra.pk}/change/",
        "segment-builder": f"/admin/chatusers/segment/{world.segment.pk}/change/",
        "import": f"/admin/chatusers/importjob/{job.pk}/progress/",
        "sync": f"/admin/sync/botsync/{world.bot.pk}/change/",
        "sync-list": "/admin/sync/botsync/",
        "dead-letters": "/admin/sync/outboxentry/dead/",
        "deleted-on-userbot": f"{CHATUSERS}{world.deleted_on_userbot.pk}/change/",
    }
    for name, path in pages.items():
        watch.visit(f"{live_server.url}{path}")
        page.wait_for_timeout(400)  # the live counts and the polls answer once
        screenshot(name, full_page=name != "chatuser-list")
        assert page.evaluate("document.documentElement.scrollWidth") <= size[0], name
        if name == "chatuser-list" and size[0] >= 1400:
            assert page.locator("#changelist .results").evaluate("e => e.scrollWidth <= e.clientWidth")
    _no_violations(watch)
