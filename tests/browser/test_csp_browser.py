"""Every admin page works under the Content-Security-Policy: Chromium opens each changelist,
add page and a change page of every model, and the custom pages (the import wizard's steps,
the sync pages, conflicts, the bulk action confirmations, the account pages), uses the
pages' scripts (inlines, actions, popups, the import's live progress), and any violation
or script error fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from backoffice.admin_site.models import SavedView
from backoffice.celery import app as celery_app
from backoffice.operations.models import Operation
from backoffice.sync.models import BotSync
from backoffice.userbot.models import Bot
from chatusers.models import BotVariable, ChatUser, ChatUserTag, Feedback, SegmentFilter, Variable
from leads.models import Lead, LeadTag
from meetings.models import Meeting
from tests.browser.csp import CspWatch
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory, TagFactory
from tests.factories_content import (
    AnswerFactory,
    AutomatedMessageFactory,
    ButtonFactory,
    ConditionFactory,
    InteractionFactory,
    UserFactory,
)
from tests.sync_helpers import dead_entry, in_conflict

pytestmark = pytest.mark.django_db(transaction=True)

CONTACTS = "Email,First name,Favourite colour\nada@example.com,Ada,green\nnot-an-email,Bad,red\n"


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


def _one_of_everything() -> Bot:
    """At least one object of every model the admin shows, so each has a change page."""
    # The roles' migration made groups, but a transactional test before this one may have
    # flushed them.
    Group.objects.get_or_create(name="viewer")
    bot = BotFactory(name="Shop", sitekey="shop")
    BotSync.objects.get_or_create(bot=bot)
    vip = TagFactory(bot=bot, name="vip", color="#c0392b")
    ada = ChatUserFactory(bot=bot, name="Ada", surname="Lovelace", email="ada@example.com")
    ChatUserTag.objects.create(chatuser=ada, tag=vip)
    Variable.objects.create(chatuser=ada, name="city", value="London")
    in_conflict(ChatUserFactory(bot=bot, name="Ours", surname="Rossi"), ("name", "Ada", "Ours", "Theirs"))
    dead_entry(ChatUserFactory(bot=bot, name="Dead", surname="Letter"))
    segment = SegmentFactory(bot=bot, name="Italians")
    SegmentFilter.objects.create(segment=segment, field="language", op="eq", value="it")
    BotVariable.objects.create(bot=bot, name="city", type="string")
    Feedback.objects.create(bot=bot, remote_id="f-1", rating=4, comment="Nice", created_at=timezone.now())
    InteractionFactory(bot=bot)
    message = AutomatedMessageFactory(bot=bot)
    ConditionFactory(message=message)
    ButtonFactory(answer=AnswerFactory(message=message, type="buttons"))
    SavedView.objects.create(
        user=get_user_model().objects.get(username="admin"), name="Italians", model="chatusers.chatuser"
    )
    lead = Lead.objects.create(
        bot=bot, remote_id="lead-1", company="Acme", domain="acme.example", country="IT", visits=3
    )
    LeadTag.objects.create(lead=lead, tag="Hot", key="hot")
    Meeting.objects.create(
        bot=bot,
        chatuser=ada,
        chatuser_remote_id=ada.remote_id or "",
        kind=Meeting.Kind.SCHEDULE,
        event_uri="https://calendar.example.com/e/1",
        start=timezone.now() + timedelta(days=1),
        end=timezone.now() + timedelta(days=1, minutes=30),
        invitee_email="ada@example.com",
        operator=get_user_model().objects.get(username="admin"),
        state=Meeting.State.SCHEDULED,
    )
    Operation.objects.create(
        kind="chatusers.export",
        title="Export as CSV: all chat users",
        noun="chat users",
        bot=bot,
        created_by=get_user_model().objects.get(username="admin"),
        status=Operation.Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=10),
        done=300,
        total=1200,
    )
    someone = UserFactory(username="sam")
    TOTPDevice.objects.create(user=someone, name="Authenticator app", confirmed=True)
    StaticDevice.objects.create(user=someone, name="Recovery codes")
    now = timezone.now()
    AccessAttempt.objects.create(
        username="mallory",
        ip_address="192.0.2.1",
        user_agent="curl",
        get_data="",
        post_data="",
        http_accept="*/*",
        path_info="/admin/login/",
        failures_since_start=2,
        attempt_time=now,
    )
    AccessFailureLog.objects.create(
        username="mallory",
        ip_address="192.0.2.1",
        user_agent="curl",
        http_accept="*/*",
        path_info="/admin/login/",
        attempt_time=now - timedelta(minutes=1),
        locked_out=False,
    )
    return bot


def _admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _has_view(model: type[models.Model], view: str) -> bool:
    try:
        _admin_url(model, view, 1)
    except NoReverseMatch:
        return False
    return True


def test_every_admin_page_works_under_the_content_security_policy(
    admin_page: Page,
    live_server: LiveServer,
    settings: Any,
    tmp_path: Any,
    eager_tasks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    bot = _one_of_everything()
    page = admin_page
    watch = CspWatch(page)
    url = live_server.url
    superuser = get_user_model().objects.get(username="admin")

    # The import wizard, first: its job then has pages of its own.
    watch.visit(f"{url}/admin/chatusers/importjob/upload/")
    page.select_option("#id_bot", label=str(bot))
    page.set_input_files(
        "#id_file", files=[{"name": "contacts.csv", "mimeType": "text/csv", "buffer": CONTACTS.encode()}]
    )
    page.get_by_role("button", name="Upload and map the columns").click()
    expect(page.locator("h1")).to_have_text("Map the columns of contacts.csv")
    page.select_option("#id_target_2", "var")
    page.fill("#id_variable_2", "colour")
    watch.collect()
    page.get_by_role("button", name="Dry run", exact=True).click()
    expect(page.locator("h1")).to_have_text("Dry run of contacts.csv")
    # The real run stays queued, so its page runs the live progress script: a socket that
    # the test server cannot open, then polling.
    monkeypatch.setattr("chatusers.tasks.import_run.delay", lambda *args, **kwargs: None)
    page.get_by_role("button", name="Import for real with the same settings").click()
    expect(page.locator("h1")).to_have_text("Import of contacts.csv")
    expect(page.locator('[data-field="status"]')).to_have_text("queued")
    with page.expect_response(lambda response: "progress.json" in response.url, timeout=10_000):
        pass
    watch.collect()

    for model, model_admin in admin.site._registry.items():
        watch.visit(f"{url}{_admin_url(model, 'changelist')}")
        if model_admin.has_add_permission(_request_of(superuser)):
            watch.visit(f"{url}{_admin_url(model, 'add')}")
        if not _has_view(model, "change"):
            continue  # pages of its own instead (the live chat inbox, the insights), seen above
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"no {model._meta.label} to open: add one to _one_of_everything"
        watch.visit(f"{url}{_admin_url(model, 'change', obj.pk)}")
        watch.visit(f"{url}{_admin_url(model, 'history', obj.pk)}")

    # Scripts at work: inline rows added on the segment builder and the automated message
    # editor, the related-object popup, an action's confirmation page, a delete page.
    watch.visit(f"{url}/admin/chatusers/segment/add/")
    page.locator("#filters-group .add-row a").click()
    watch.visit(f"{url}/admin/automation/automatedmessage/add/")
    page.get_by_role("button", name="Add another Condition").click()
    page.get_by_role("button", name="Add another Answer").click()
    watch.collect()
    with page.expect_popup() as popup_info:
        page.locator("#add_id_bot").click()
    popup = popup_info.value
    popup.wait_for_load_state("load")
    popup_violations = popup.evaluate("window.__cspViolations || []")
    popup.close()
    watch.visit(f"{url}/admin/chatusers/chatuser/")
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "add_tag")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("h1")).to_have_text("Add a tag")
    page.get_by_role("link", name="No, take me back").click()
    watch.collect()
    ada = ChatUser.objects.get(email="ada@example.com")
    watch.visit(f"{url}/admin/chatusers/chatuser/{ada.pk}/delete/")
    watch.visit(f"{url}/admin/chatusers/tag/{ada.tags.get().pk}/delete/")
    watch.visit(f"{url}/admin/chatusers/chatuser/?q=ada&channel__exact=webchat")
    watch.visit(f"{url}/admin/sync/outboxentry/?state__exact=dead")
    watch.visit(f"{url}/admin/chatusers/importjob/")

    # The account pages, and the admin's own.
    for path in (
        "/admin/",
        "/admin/chatusers/",
        "/admin/account/two-factor/",
        "/admin/account/sessions/",
        "/admin/password_change/",
    ):
        watch.visit(f"{url}{path}")
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("h1")).to_have_text("Logged out")
    watch.collect()
    watch.visit(f"{url}/admin/login/")

    assert popup_violations == []
    watch.assert_clean()
    with_change_pages = [model for model in admin.site._registry if _has_view(model, "change")]
    assert len(watch.visited) > 4 * len(with_change_pages)


def _request_of(user: Any) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_the_watch_sees_what_the_policy_blocks(admin_page: Page, live_server: LiveServer) -> None:
    # The test above is only as good as its watch: an inline script and a <style> element
    # added to an admin page are blocked, and seen.
    watch = CspWatch(admin_page)
    watch.visit(f"{live_server.url}/admin/")

    admin_page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.ranInline = true';
            document.body.appendChild(script);
            const style = document.createElement('style');
            style.textContent = 'body { color: red }';
            document.head.appendChild(style);
        }"""
    )
    admin_page.wait_for_timeout(300)
    watch.collect()

    assert admin_page.evaluate("window.ranInline === undefined")
    directives = " ".join(watch.violations)
    assert "script-src" in directives
    assert "style-src-elem" in directives
