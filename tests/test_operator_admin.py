"""The operator's admin without a browser: what each page costs in queries, and the JSON
views the pages' scripts ask (the segment builder's count, a synced object's state)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.admin_site.models import SavedView
from backoffice.sync.models import BotSync, OutboxEntry
from chatusers.models import BotVariable, ChatUserTag, SegmentFilter
from insights.models import DayStats, InsightsState
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory, TagFactory
from tests.sync_helpers import dead_entry, in_conflict

pytestmark = pytest.mark.django_db

SEGMENTS = "/admin/chatusers/segment/"
TODAY = date(2026, 11, 24)
READ_AT = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def _queries(client: Any, url: str) -> int:
    client.get(url)  # the session's first page keeps what every later one reads (saved views)
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def _busy_bot(name: str) -> Any:
    """A bot with a dead letter, a conflict, and yesterday's and today's numbers stored."""
    bot = BotFactory(name=name)
    BotSync.objects.create(bot=bot)
    users = ChatUserFactory.create_batch(3, bot=bot)
    dead_entry(users[0])
    in_conflict(users[1], ("name", "a", "b", "c"))
    for day in (TODAY - timedelta(days=1), TODAY):
        DayStats.objects.create(
            bot=bot, date=day, read_at=READ_AT, sessions=4, messages=9, chatusers=1, handovers=0
        )
    InsightsState.objects.create(bot=bot, last_error="timed out", last_error_at=READ_AT)
    return bot


def test_the_dashboard_costs_the_same_queries_for_one_bot_and_five(
    admin_client: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("backoffice.admin_site.dashboard.utc_today", lambda: TODAY)
    _busy_bot("First")
    with_one = _queries(admin_client, "/admin/")
    for n in range(4):
        _busy_bot(f"Bot {n}")

    with_five = _queries(admin_client, "/admin/")
    page = admin_client.get("/admin/")

    assert with_five == with_one
    rows = page.context["dashboard"]
    assert [(r.name, r.chatusers.value, r.dead_letters.value, r.conflicts.value) for r in rows][:2] == [
        ("Bot 0", 3, 1, 1),
        ("Bot 1", 3, 1, 1),
    ]
    sessions = rows[0].insights.figures[0]
    assert (sessions.today.value, sessions.last_7.value, sessions.last_7.days, rows[0].insights.failure) == (
        4,
        4,
        1,
        "timed out",
    )
    assert page.content.decode().count('data-figure="sessions"') == 5


def test_the_dashboard_is_for_those_who_see_chat_users_or_the_sync(client: Any) -> None:
    _busy_bot("Shop")
    staff = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(staff)

    without = client.get("/admin/")
    staff.user_permissions.add(Permission.objects.get(codename="view_botsync"))
    staff = get_user_model().objects.get(pk=staff.pk)
    client.force_login(staff)
    with_sync = client.get("/admin/")

    assert "dashboard" not in without.context
    assert [r.name for r in with_sync.context["dashboard"]] == ["Shop"]


def test_a_group_page_lists_the_groups_models_and_an_unknown_group_is_not_found(admin_client: Any) -> None:
    page = admin_client.get("/admin/group/sync/")

    assert [m["name"] for m in page.context["app_list"][0]["models"]] == [
        "Sync status",
        "Dead letters",
        "Conflicts",
        "Outbox",
        "Bots",
    ]
    assert admin_client.get("/admin/group/nothing/").status_code == 404


def test_the_segment_list_counts_every_segment_in_one_query_whatever_their_number(admin_client: Any) -> None:
    bot = BotFactory()
    vip = TagFactory(bot=bot, name="vip")
    italians = ChatUserFactory.create_batch(3, bot=bot, language="it")
    ChatUserFactory.create_batch(2, bot=bot, language="en")
    ChatUserTag.objects.create(chatuser=italians[0], tag=vip)
    for name in ("A", "B"):
        segment = SegmentFactory(bot=bot, name=name)
        SegmentFilter.objects.create(segment=segment, field="language", op="eq", value="it")
    with_two = _queries(admin_client, SEGMENTS)
    for name in ("C", "D", "E", "F"):
        segment = SegmentFactory(bot=bot, name=name)
        SegmentFilter.objects.create(segment=segment, field="tag", op="eq", value="vip", tag=vip)

    with_six = _queries(admin_client, SEGMENTS)
    with CaptureQueriesContext(connection) as again:
        page = admin_client.get(SEGMENTS)

    assert with_six == with_two
    # The counts of a page just shown come from the cache: no count of chat users.
    assert not [q for q in again.captured_queries if '"chatusers_chatuser"' in q["sql"]]
    assert {s.name: s.matching for s in page.context["cl"].result_list} == {
        "A": 3,
        "B": 3,
        "C": 1,
        "D": 1,
        "E": 1,
        "F": 1,
    }


def test_a_segments_page_shows_its_count_from_the_list_and_counts_again_once_it_changes(
    admin_client: Any,
) -> None:
    bot = BotFactory()
    ChatUserFactory.create_batch(3, bot=bot, language="it")
    segment = SegmentFactory(bot=bot, name="Italians")
    SegmentFilter.objects.create(segment=segment, field="language", op="eq", value="it")
    page = f"/admin/chatusers/segment/{segment.pk}/change/"
    admin_client.get(SEGMENTS)  # the list counts it
    ChatUserFactory(bot=bot, language="it")  # counted again within the minute, or once it changes

    with CaptureQueriesContext(connection) as shown:
        cached = admin_client.get(page).content.decode()
    segment.save()  # a change of the segment: a new count
    changed = admin_client.get(page).content.decode()

    assert not [q for q in shown.captured_queries if '"chatusers_chatuser"' in q["sql"]]
    assert '<span class="segment-count">3</span>' in cached and "kept up to a minute" in cached
    assert '<span class="segment-count">4</span>' in changed


def test_the_segment_count_view_counts_filters_not_saved_and_names_a_wrong_one(admin_client: Any) -> None:
    bot = BotFactory()
    TagFactory(bot=bot, name="vip")
    ChatUserFactory.create_batch(2, bot=bot, language="it", channel="whatsapp")
    ChatUserFactory(bot=bot, language="en", channel="whatsapp")
    ChatUserFactory(language="it")  # another bot's
    form = {"bot": bot.pk, "match": "all", "filters-TOTAL_FORMS": "3"}
    rows = {
        "filters-0-field": "language",
        "filters-0-op": "eq",
        "filters-0-value": "it",
        "filters-1-field": "channel",
        "filters-1-op": "eq",
        "filters-1-value": "whatsapp",
        "filters-2-field": "channel",
        "filters-2-op": "eq",
        "filters-2-value": "telegram",
        "filters-2-DELETE": "on",
    }

    counted = admin_client.post(f"{SEGMENTS}count/", {**form, **rows}).json()
    any_of = admin_client.post(f"{SEGMENTS}count/", {**form, **rows, "match": "any"}).json()
    wrong = admin_client.post(
        f"{SEGMENTS}count/", {**form, **rows, "filters-1-field": "tag", "filters-1-value": "nope"}
    ).json()
    no_bot = admin_client.post(f"{SEGMENTS}count/", rows).json()

    assert counted == {"count": 2, "error": ""}
    assert any_of == {"count": 3, "error": ""}
    assert wrong == {"count": None, "error": "Filter 2: This bot has no tag named “nope”."}
    assert no_bot == {"count": None, "error": "Choose the bot first."}
    assert not SegmentFilter.objects.exists()


def test_the_segment_choices_view_offers_the_bots_values(admin_client: Any) -> None:
    bot = BotFactory()
    TagFactory(bot=bot, name="vip")
    TagFactory(name="elsewhere")
    ChatUserFactory(bot=bot, language="fr")
    BotVariable.objects.create(bot=bot, name="city")
    cache.clear()

    choices = admin_client.get(f"{SEGMENTS}choices/?bot={bot.pk}").json()

    assert choices == {
        "values": {
            "channel": ["webchat", "whatsapp", "messenger", "instagram", "telegram", "api"],
            "language": ["fr"],
            "tag": ["vip"],
        },
        "variables": ["city"],
    }


def test_the_only_bot_is_chosen_on_an_add_page_and_none_of_two(admin_client: Any) -> None:
    only = BotFactory()

    one = admin_client.get(f"{SEGMENTS}add/")
    BotFactory()
    two = admin_client.get(f"{SEGMENTS}add/")

    assert one.context["adminform"].form.initial["bot"] == only.pk
    assert "bot" not in two.context["adminform"].form.initial


def test_an_objects_sync_state_is_read_by_who_may_see_it(admin_client: Any, client: Any) -> None:
    chatuser = ChatUserFactory(sync_state="pending")
    entry = OutboxEntry.objects.create(
        bot=chatuser.bot, object_type="chatusers.chatuser", object_id=chatuser.pk, state="in_flight"
    )
    url = f"/admin/sync/outboxentry/state/chatusers.chatuser/{chatuser.pk}/"
    stranger = get_user_model().objects.create_user("stranger", password="x", is_staff=True)
    client.force_login(stranger)

    state = admin_client.get(url).json()
    refused = client.get(url)
    unknown = admin_client.get(f"/admin/sync/outboxentry/state/auth.user/{stranger.pk}/")

    assert (state["sync_state"], state["outbox"], state["open_conflicts"]) == ("pending", "in_flight", 0)
    assert state["fields"]["sync_state"] == "Pending"
    assert (refused.status_code, unknown.status_code) == (403, 404)
    assert OutboxEntry.objects.get(pk=entry.pk).state == "in_flight"  # reading changes nothing


def test_a_chat_users_page_has_no_last_seen_input_and_a_save_leaves_it(admin_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ada")
    page = admin_client.get(f"/admin/chatusers/chatuser/{chatuser.pk}/change/")

    assert "last_seen_at" not in page.context["adminform"].form.fields
    assert "last_seen_moment" in page.context["adminform"].readonly_fields


def test_a_saved_view_is_its_owners_alone(admin_client: Any, client: Any, admin_user: Any) -> None:
    admin_client.cookies["bo_cols_chatusers_chatuser"] = "phone,channel"
    saved = admin_client.post(
        "/admin/views/save/",
        {"name": "Telegram", "model": "chatusers.chatuser", "query": "channel__exact=telegram"},
    )
    view = SavedView.objects.get()
    other = get_user_model().objects.create_user("other", password="x", is_staff=True)
    client.force_login(other)

    opened = admin_client.get(f"/admin/views/{view.pk}/")
    refused = client.get(f"/admin/views/{view.pk}/")
    others_list = client.get("/admin/admin_site/savedview/")

    assert saved["Location"] == "/admin/chatusers/chatuser/?channel__exact=telegram"
    assert (view.user, view.model, view.query, view.columns) == (
        admin_user,
        "chatusers.chatuser",
        "channel__exact=telegram",
        "phone,channel",
    )
    assert opened["Location"] == "/admin/chatusers/chatuser/?channel__exact=telegram"
    assert opened.cookies["bo_cols_chatusers_chatuser"].value == "phone,channel"
    assert refused.status_code == 404
    assert list(others_list.context["cl"].result_list) == []


def test_a_list_a_user_may_not_see_cannot_be_saved(client: Any) -> None:
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)

    response = client.post("/admin/views/save/", {"name": "Mine", "model": "chatusers.chatuser"})

    assert response.status_code == 403
    assert not SavedView.objects.exists()


def test_saved_views_in_the_sidebar_cost_a_list_page_no_query(admin_client: Any, admin_user: Any) -> None:
    ChatUserFactory.create_batch(3)
    without = _queries(admin_client, "/admin/chatusers/chatuser/")
    for name in ("One", "Two", "Three"):
        admin_client.post("/admin/views/save/", {"name": name, "model": "chatusers.chatuser", "query": ""})

    with_three = _queries(admin_client, "/admin/chatusers/chatuser/")
    page = admin_client.get("/admin/chatusers/chatuser/")

    assert with_three == without
    saved = page.context["available_apps"][0]
    assert (saved["name"], [m["name"] for m in saved["models"]]) == ("Saved views", ["One", "Three", "Two"])


def _sidebar(page: Any) -> str:
    html = page.content.decode()
    return html[
        html.index('<nav class="sticky" id="nav-sidebar"') : html.index(
            "</nav>", html.index('id="nav-sidebar"')
        )
    ]


def test_the_sidebar_kept_by_the_process_is_the_one_its_template_draws(admin_client: Any) -> None:
    from django.template.loader import render_to_string

    from backoffice.admin_site.templatetags import backoffice_admin

    backoffice_admin._SIDEBARS.clear()
    first = admin_client.get("/admin/chatusers/tag/")
    kept = admin_client.get("/admin/chatusers/tag/")
    drawn = render_to_string(
        "admin_site/nav_sidebar.html",
        {"available_apps": kept.context["available_apps"], "request": kept.wsgi_request},
    )

    assert (
        _sidebar(first) == _sidebar(kept) == drawn[drawn.index('<nav class="sticky"') : drawn.index("</nav>")]
    )
    assert len(backoffice_admin._SIDEBARS) == 1


def test_the_sidebar_marks_the_page_shown_and_follows_the_users_permissions_at_once(client: Any) -> None:
    from backoffice.admin_site import site as site_module

    site_module._GROUPS_BY_ACCESS.clear()
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_chatuser"))
    other = get_user_model().objects.create_user("other", password="x", is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="view_chatuser"))
    client.force_login(clerk)

    on_users = _sidebar(client.get("/admin/chatusers/chatuser/"))
    on_imports = _sidebar(client.get("/admin/chatusers/importjob/"))
    clerk.user_permissions.add(Permission.objects.get(codename="view_tag"))
    with_tags = _sidebar(client.get("/admin/chatusers/chatuser/"))
    kept = dict(site_module._GROUPS_BY_ACCESS)
    client.force_login(other)
    others = _sidebar(client.get("/admin/chatusers/chatuser/"))

    assert 'href="/admin/chatusers/chatuser/" aria-current="page"' in on_users
    assert 'href="/admin/chatusers/chatuser/" aria-current="page"' not in on_imports
    assert 'href="/admin/chatusers/importjob/" aria-current="page"' in on_imports
    assert 'href="/admin/chatusers/tag/"' not in on_users
    assert 'href="/admin/chatusers/tag/"' in with_tags
    assert others == on_users
    # The one with the clerk's first permissions served the other user: nothing was built.
    assert site_module._GROUPS_BY_ACCESS.keys() == kept.keys()
    assert all(site_module._GROUPS_BY_ACCESS[access] is groups for access, groups in kept.items())
