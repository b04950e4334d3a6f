"""A chat user's page shows their timeline: chats, feedback, history, imports and sync
conflicts merged newest first, paged back in time at a fixed cost in queries."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.sync.actor import sync_actor
from backoffice.sync.models import SyncConflict
from chatusers import services
from chatusers.import_models import ImportChange, ImportJob
from chatusers.models import ChatUser, Feedback
from chatusers.timeline import register_source, timeline, unregister_source
from livechat.models import ChatAction
from tests.factories import ChatUserFactory, TagFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _page_url(chatuser: ChatUser) -> str:
    return reverse("admin:chatusers_chatuser_change", args=[chatuser.pk])


def _feedback(chatuser: ChatUser, n: int, at: datetime, **fields: Any) -> Feedback:
    values = {"rating": 4, "comment": f"comment {n}", "session_id": f"s{n}"} | fields
    return Feedback.objects.create(
        bot=chatuser.bot, remote_id=f"f{chatuser.pk}-{n}", chatuser=chatuser, created_at=at, **values
    )


def _action(chatuser: ChatUser, operator: Any, at: datetime, **fields: Any) -> ChatAction:
    values = {"session_id": "s1", "kind": "reply", "text": "", "state": "done"} | fields
    action = ChatAction.objects.create(
        bot=chatuser.bot, chatuser_remote_id=chatuser.remote_id, operator=operator, **values
    )
    ChatAction.objects.filter(pk=action.pk).update(created_at=at)
    return action


def _conflict(chatuser: ChatUser, at: datetime, **fields: Any) -> SyncConflict:
    values = {"field": "email", "local_value": "a@here.com", "remote_value": "a@there.com"} | fields
    conflict = SyncConflict.objects.create(
        bot=chatuser.bot, object_type="chatusers.chatuser", object_id=chatuser.pk, object_repr=str(chatuser),
        base_value=None, **values,
    )  # fmt: skip
    SyncConflict.objects.filter(pk=conflict.pk).update(detected_at=at)
    return conflict


def _log(chatuser: ChatUser, user: Any, at: datetime, message: str) -> None:
    LogEntry.objects.create(
        user=user, content_type=ContentType.objects.get_for_model(ChatUser), object_id=str(chatuser.pk),
        object_repr=str(chatuser), action_flag=CHANGE, change_message=message, action_time=at,
    )  # fmt: skip


def _import(chatuser: ChatUser, operator: Any, at: datetime, *, created: bool) -> ImportJob:
    job = ImportJob.objects.create(
        bot=chatuser.bot, created_by=operator, file="imports/people.csv", original_name="people.csv",
        status="done", finished_at=at,
    )  # fmt: skip
    ImportChange.objects.create(job=job, chatuser_id=chatuser.pk, created=created)
    return job


def _latest_logs_at(chatuser: ChatUser, *moments: datetime) -> None:
    """Give the chat user's history entries written just now these moments, oldest first."""
    entries = LogEntry.objects.filter(object_id=str(chatuser.pk)).order_by("pk")
    for entry, moment in zip(entries, moments, strict=True):
        LogEntry.objects.filter(pk=entry.pk).update(action_time=moment)


def test_the_timeline_merges_every_kind_newest_first(admin_client, operator):
    ada = ChatUserFactory(name="Ada", surname="Rossi", remote_id="u1")
    operator.first_name, operator.last_name = "Olga", "Op"
    operator.save()
    services.chatuser_add_tag(chatuser=ada, tag=TagFactory(bot=ada.bot, name="vip"), actor=operator)
    services.chatuser_set_variable(chatuser=ada, name="city", value="Rome", actor=operator)
    _latest_logs_at(ada, _at(1), _at(2))
    _log(ada, sync_actor(), _at(3), "Changed on Userbot: email")
    _action(ada, operator, _at(4), kind="take_over")
    _action(ada, operator, _at(5), text="Hello Ada")
    _feedback(ada, 1, _at(6), rating=5, comment="Quick")
    _conflict(ada, _at(7))
    job = _import(ada, operator, _at(8), created=False)
    _log(ada, operator, _at(9), "Push to Userbot requested")

    page = timeline(ada)

    assert [(e.at, e.kind, e.title, e.actor) for e in page.entries] == [
        (_at(9), "sync", "Push to Userbot requested", "Olga Op"),
        (_at(8), "import", "Updated by the import of people.csv", "Olga Op"),
        (_at(7), "conflict", "Sync conflict on email: open", ""),
        (_at(6), "feedback", "Rated 5/5", "Ada Rossi"),
        (_at(5), "chat", "Replied in chat s1", "Olga Op"),
        (_at(4), "chat", "Took over chat s1", "Olga Op"),
        (_at(3), "sync", "Changed on Userbot: email", "Userbot (sync)"),
        (_at(2), "variable", "Set variable city", "Olga Op"),
        (_at(1), "tag", "Added tag vip", "Olga Op"),
    ]
    assert page.next_before is None and page.failed == []
    html = admin_client.get(_page_url(ada)).content.decode()
    block = html[html.index('id="timeline"') :]
    chat = reverse("admin:livechat_chat", args=[ada.bot_id, "s1"])
    assert f'<a href="{chat}">Replied in chat s1</a>' in block
    assert f'<a href="{reverse("admin:chatusers_importjob_progress", args=[job.pk])}">' in block
    assert "Hello Ada" in block and "2026-11-03 10:09 UTC" in block
    assert block.index("Push to Userbot requested") < block.index("Added tag vip")


def test_paging_back_gives_every_entry_once(admin_client, operator, monkeypatch):
    ada = ChatUserFactory(remote_id="u1")
    for n in range(9):
        _feedback(ada, n, _at(n * 3))
        _action(ada, operator, _at(n * 3 + 1), session_id=f"s{n}")
        _conflict(ada, _at(n * 3 + 2), field=f"field{n}")
        _log(ada, operator, _at(n * 3 + 2), f"Changed name {n}")  # the same moment as a conflict
    everything = timeline(ada, limit=1000).entries
    assert len(everything) == 36

    seen, before, pages = [], None, 0
    while True:
        page = timeline(ada, before=before, limit=5)
        seen.extend(page.entries)
        pages += 1
        if page.next_before is None:
            break
        before = page.next_before

    assert seen == everything
    assert pages > 7
    # The page's Older link carries the cursor, and the page it opens starts after it.
    monkeypatch.setattr(admin.site._registry[ChatUser], "timeline_page_size", 5)
    html = admin_client.get(_page_url(ada)).content.decode()
    older = re.search(r'href="\?timeline_before=([^"#]+)#timeline">Older', html)
    assert older is not None
    second = admin_client.get(_page_url(ada) + f"?timeline_before={older.group(1)}").content.decode()
    assert "Changed name 8" in html
    assert "Changed name 7" in second and "Changed name 8" not in second[second.index('id="timeline"') :]


def _fill(chatuser: ChatUser, operator: Any, each: int) -> None:
    """``each`` entries of every kind for the chat user, written in bulk."""
    Feedback.objects.bulk_create(
        Feedback(bot=chatuser.bot, remote_id=f"f{chatuser.pk}-{n}", chatuser=chatuser, rating=3,
                 comment="ok", session_id=f"s{n}", created_at=_at(n))
        for n in range(each)
    )  # fmt: skip
    ChatAction.objects.bulk_create(
        ChatAction(bot=chatuser.bot, session_id=f"s{n}", chatuser_remote_id=chatuser.remote_id,
                   kind="reply", operator=operator, state="done")
        for n in range(each)
    )  # fmt: skip
    SyncConflict.objects.bulk_create(
        SyncConflict(bot=chatuser.bot, object_type="chatusers.chatuser", object_id=chatuser.pk,
                     object_repr="x", field=f"f{n}", resolution="ours", resolved_by=operator)
        for n in range(each)
    )  # fmt: skip
    kind = ContentType.objects.get_for_model(ChatUser)
    LogEntry.objects.bulk_create(
        LogEntry(user=operator, content_type=kind, object_id=str(chatuser.pk), object_repr="x",
                 action_flag=CHANGE, change_message=f"Set variable v{n}", action_time=_at(n))
        for n in range(each)
    )  # fmt: skip
    for n in range(each):
        _import(chatuser, operator, _at(n), created=n == 0)


def test_the_page_costs_the_same_queries_for_10_and_2000_entries(
    admin_client, operator, django_assert_num_queries
):
    few, many = ChatUserFactory(remote_id="u1"), ChatUserFactory(remote_id="u2")
    _fill(few, operator, 2)
    _fill(many, operator, 400)
    admin_client.get(_page_url(few))  # warm caches (content types, sessions) for both
    with CaptureQueriesContext(connection) as for_few:
        assert admin_client.get(_page_url(few)).status_code == 200

    with django_assert_num_queries(len(for_few.captured_queries)):
        response = admin_client.get(_page_url(many))

    assert response.content.decode().count('<tr class="timeline-') == 50


def test_a_source_that_fails_does_not_break_the_page(admin_client, operator, caplog):
    ada = ChatUserFactory(remote_id="u1")
    _feedback(ada, 1, _at(1), comment="still here")

    def broken(chatuser: ChatUser, before: datetime | None, limit: int) -> list[Any]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
        return []

    register_source("broken part", broken)
    try:
        with caplog.at_level(logging.ERROR, logger="chatusers.timeline"):
            response = admin_client.get(_page_url(ada))
    finally:
        unregister_source("broken part")

    html = response.content.decode()
    assert response.status_code == 200
    assert "The broken part could not be read just now; the rest of the timeline is shown." in html
    assert "still here" in html
    assert [r.getMessage() for r in caplog.records] == [
        f"The timeline source 'broken part' failed for chat user {ada.pk}"
    ]


def test_html_in_a_comment_is_escaped(admin_client):
    ada = ChatUserFactory(remote_id="u1")
    _feedback(ada, 1, _at(1), comment='<img src=x onerror="alert(1)">')

    html = admin_client.get(_page_url(ada)).content.decode()

    block = html[html.index('id="timeline"') :]
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in block
    assert "<img src=x" not in html
