"""The sync engine in the admin: each bot's sync page, the dead-letter list, conflicts, and the
chat user page's push and conflict note. Permissions, messages, and the cost of each list."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from backoffice.operations.models import Operation
from backoffice.sync.actor import sync_actor
from backoffice.sync.admin.conflicts import conflicts_url
from backoffice.sync.gone import objects_gone
from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.outbox import mark_changed
from chatusers.models import ChatUser
from tests.factories import BotFactory, ChatUserFactory
from tests.operations import run_started, started
from tests.pages import crumbs
from tests.sync_helpers import LABEL, dead_entry, entries_of, history, in_conflict

pytestmark = pytest.mark.django_db

BOT_SYNCS = "/admin/sync/botsync/"
OUTBOX = "/admin/sync/outboxentry/"
CONFLICTS = "/admin/sync/syncconflict/"
CHATUSERS = "/admin/chatusers/chatuser/"


def staff(username: str, *codenames: str) -> Any:
    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def admin_user() -> Any:
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "x")


@pytest.fixture
def admin_client(client: Any, admin_user: Any) -> Any:
    client.force_login(admin_user)
    return client


@pytest.fixture
def viewer_client(client: Any) -> Any:
    client.force_login(staff("viewer", "view_botsync", "view_outboxentry", "view_syncconflict"))
    return client


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """The sync tasks queued, by name, instead of sent to a broker."""
    sent: dict[str, list[int]] = {"push": [], "pull": [], "operation": []}
    monkeypatch.setattr("backoffice.sync.tasks.push.delay", sent["push"].append)
    monkeypatch.setattr("backoffice.sync.tasks.pull.delay", sent["pull"].append)
    monkeypatch.setattr("backoffice.operations.tasks.run.delay", sent["operation"].append)
    return sent


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def action(name: str, *objects: Any, **extra: Any) -> dict[str, Any]:
    return {"action": name, ACTION_CHECKBOX_NAME: [o.pk for o in objects], "index": 0, **extra}


# --- the sync page of each bot ---------------------------------------------------------------


def test_the_bot_sync_list_makes_a_row_for_each_bot_and_shows_its_status(admin_client: Any) -> None:
    bot, idle = BotFactory(name="Shop"), BotFactory(name="Idle")
    users = ChatUserFactory.create_batch(3, bot=bot)
    dead_entry(users[0])
    OutboxEntry.objects.create(bot=bot, object_type=LABEL, object_id=users[1].pk)
    in_conflict(users[2], ("name", "a", "b", "c"))

    response = admin_client.get(BOT_SYNCS)

    assert response.status_code == 200
    assert set(BotSync.objects.values_list("bot_id", flat=True)) == {bot.pk, idle.pk}
    rows = {row.bot_id: row for row in response.context["cl"].result_list}
    assert (rows[bot.pk].queue_depth, rows[bot.pk].dead_count, rows[bot.pk].open_conflicts) == (2, 1, 1)
    assert (rows[idle.pk].queue_depth, rows[idle.pk].dead_count, rows[idle.pk].open_conflicts) == (0, 0, 0)
    page = response.content.decode()
    assert f'href="{OUTBOX}dead/?bot__id__exact={bot.pk}">1</a>' in page
    assert f'href="{CONFLICTS}?bot__id__exact={bot.pk}&amp;resolution__exact=open">1</a>' in page


def test_the_bot_sync_list_costs_the_same_queries_for_5_and_50_bots(admin_client: Any) -> None:
    def add(n: int) -> None:
        for _ in range(n):
            bot = BotFactory()
            chatuser = ChatUserFactory(bot=bot)
            dead_entry(chatuser)
            in_conflict(ChatUserFactory(bot=bot), ("name", "a", "b", "c"))

    admin_client.get("/admin/")  # the sidebar's saved views are read once, then kept
    add(5)
    first_5, again_5 = queries(admin_client, BOT_SYNCS), queries(admin_client, BOT_SYNCS)
    add(45)
    first_50, again_50 = queries(admin_client, BOT_SYNCS), queries(admin_client, BOT_SYNCS)

    # Session, user, missing rows, their insert, the filtered and the full count, the page.
    assert (first_5, first_50) == (7, 7)
    # Once every bot has its row nothing is inserted.
    assert (again_5, again_50) == (6, 6)


def test_the_bot_sync_page_saves_the_policies_through_the_service(admin_client: Any) -> None:
    bot_sync = BotSync.objects.create(bot=BotFactory())

    page = admin_client.get(f"{BOT_SYNCS}{bot_sync.pk}/change/")
    response = admin_client.post(
        f"{BOT_SYNCS}{bot_sync.pk}/change/",
        {
            "conflict_policy": "remote",
            "on_remote_delete": "keep",
            "pull_interval_s": "120",
            "pull_interval_max_s": "300",
        },
    )

    assert page.status_code == 200
    assert b">Push now</button>" in page.content and b">Pull now</button>" in page.content
    assert response.status_code == 302
    bot_sync.refresh_from_db()
    assert (bot_sync.conflict_policy, bot_sync.on_remote_delete, bot_sync.pull_interval_s) == (
        "remote",
        "keep",
        120,
    )
    assert history(bot_sync) == ["Changed conflict_policy, on_remote_delete, pull_interval_s"]


def test_push_now_and_pull_now_queue_the_run_after_commit(
    admin_client: Any, queued: dict[str, list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    bot_sync = BotSync.objects.create(bot=BotFactory(name="Shop", sitekey="shop"))

    with django_capture_on_commit_callbacks(execute=True):
        pushed = admin_client.post(f"{BOT_SYNCS}{bot_sync.pk}/push/")
    with django_capture_on_commit_callbacks(execute=True):
        pulled = admin_client.post(f"{BOT_SYNCS}{bot_sync.pk}/pull/")

    # A pull is a long operation, followed on its own page.
    operation = started(pulled)
    assert pushed.status_code == 302
    assert pushed["Location"] == f"{BOT_SYNCS}{bot_sync.pk}/change/"
    assert (operation.kind, operation.bot_id, operation.title) == (
        "sync.pull",
        bot_sync.bot_id,
        "Pull Shop (shop) from Userbot",
    )
    assert operation.params == {"back_url": f"{BOT_SYNCS}{bot_sync.pk}/change/"}
    assert queued == {"push": [bot_sync.pk], "pull": [], "operation": [operation.pk]}
    assert messages_of(pulled) == ["A push of Shop (shop) is queued."]
    assert history(bot_sync) == ["Push requested", "Pull requested"]
    assert admin_client.get(f"{BOT_SYNCS}{bot_sync.pk}/push/").status_code == 405


def test_push_now_action_queues_each_selected_bot(
    admin_client: Any, queued: dict[str, list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    first, second, _unselected = (BotSync.objects.create(bot=BotFactory()) for _ in range(3))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(BOT_SYNCS, action("push_now", first, second))

    assert response.status_code == 302
    assert sorted(queued["push"]) == sorted([first.pk, second.pk])
    assert queued["pull"] == queued["operation"] == []


def test_pull_now_action_starts_an_operation_per_selected_bot(
    admin_client: Any, queued: dict[str, list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    first, second, _unselected = (BotSync.objects.create(bot=BotFactory()) for _ in range(3))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(BOT_SYNCS, action("pull_now", first, second), follow=True)

    operations = list(Operation.objects.order_by("pk"))
    assert [o.bot_id for o in operations] == [first.bot_id, second.bot_id]
    assert queued["operation"] == [o.pk for o in operations]
    (message,) = messages_of(response)
    assert message.startswith("Pulls started, each on its page:")
    for operation in operations:
        assert f'href="/admin/operations/operation/{operation.pk}/progress/"' in message


def test_a_viewer_sees_the_sync_page_but_cannot_push_pull_or_change_policies(
    viewer_client: Any, queued: dict[str, list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    bot_sync = BotSync.objects.create(bot=BotFactory())

    page = viewer_client.get(f"{BOT_SYNCS}{bot_sync.pk}/change/")
    with django_capture_on_commit_callbacks(execute=True):
        push = viewer_client.post(f"{BOT_SYNCS}{bot_sync.pk}/push/")
        pull = viewer_client.post(f"{BOT_SYNCS}{bot_sync.pk}/pull/")
        change = viewer_client.post(f"{BOT_SYNCS}{bot_sync.pk}/change/", {"conflict_policy": "remote"})

    assert page.status_code == 200
    assert b"Push now" not in page.content
    assert (push.status_code, pull.status_code, change.status_code) == (403, 403, 403)
    assert queued == {"push": [], "pull": [], "operation": []}
    assert not Operation.objects.exists()
    assert BotSync.objects.get().conflict_policy == "manual"
    assert viewer_client.get(BOT_SYNCS).status_code == 200


def test_a_user_without_sync_permissions_is_refused(client: Any) -> None:
    client.force_login(staff("stranger", "view_chatuser"))
    bot_sync = BotSync.objects.create(bot=BotFactory())

    assert client.get(BOT_SYNCS).status_code == 403
    assert client.get(OUTBOX).status_code == 403
    assert client.get(CONFLICTS).status_code == 403
    assert client.post(f"{BOT_SYNCS}{bot_sync.pk}/pull/").status_code == 403


# --- the dead-letter list ---------------------------------------------------------------------


def test_dead_letters_have_a_page_of_their_own_and_the_outbox_lists_every_entry(admin_client: Any) -> None:
    bot = BotFactory()
    errored = ChatUserFactory(bot=bot, name="Ada", surname="Lovelace")
    dead = dead_entry(errored)
    waiting = ChatUserFactory(bot=bot)
    OutboxEntry.objects.create(bot=bot, object_type=LABEL, object_id=waiting.pk)

    dead_letters = admin_client.get(f"{OUTBOX}dead/")
    default = admin_client.get(OUTBOX)
    pending = admin_client.get(f"{OUTBOX}?state=pending")

    assert [e.pk for e in dead_letters.context["cl"].result_list] == [dead.pk]
    assert dead_letters.context["title"] == "Dead letters"
    assert "state" not in [f.title for f in dead_letters.context["cl"].filter_specs]
    assert list(dead_letters.context["action_form"].fields["action"].choices)[1:] == [
        ("retry_entries", "Retry the selected dead entries"),
        ("ignore_entries", "Ignore the selected dead entries…"),
    ]
    assert default.context["cl"].result_count == 2
    assert [e.object_id for e in pending.context["cl"].result_list] == [waiting.pk]
    page = dead_letters.content.decode()
    assert f'<a href="{CHATUSERS}{errored.pk}/change/">Ada Lovelace</a>' in page
    assert "400 invalid: email taken" in page


def test_the_outbox_list_costs_the_same_queries_for_5_and_50_rows(admin_client: Any) -> None:
    bot = BotFactory()

    def add(n: int) -> None:
        for chatuser in ChatUserFactory.create_batch(n, bot=bot):
            dead_entry(chatuser)

    admin_client.get("/admin/")  # the sidebar's saved views are read once, then kept
    add(5)
    with_5 = queries(admin_client, OUTBOX)
    add(45)
    with_50 = queries(admin_client, OUTBOX)

    # Session, user, the bots of the filter, the filtered and the full count, the page, its chat users.
    assert (with_5, with_50) == (7, 7)
    assert len(admin_client.get(OUTBOX).context["cl"].result_list) == 50


def test_retry_action_queues_dead_entries_again(admin_client: Any) -> None:
    bot = BotFactory()
    first, second = ChatUserFactory(bot=bot), ChatUserFactory(bot=bot)
    entries = [dead_entry(first), dead_entry(second)]

    response = admin_client.post(OUTBOX, action("retry_entries", *entries))

    assert response.status_code == 302
    assert [entries_of(c) for c in (first, second)] == [[("pending", 3, True)], [("pending", 3, True)]]
    assert messages_of(response) == ["Queued again 2 dead entries."]


def test_ignore_action_confirms_then_drops_the_dead_entries(admin_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ada", surname="Lovelace")
    entry = dead_entry(chatuser)

    confirm = admin_client.post(OUTBOX, action("ignore_entries", entry))
    assert confirm.status_code == 200
    assert OutboxEntry.objects.filter(pk=entry.pk).exists()
    assert b"Yes, ignore them" in confirm.content
    done = admin_client.post(OUTBOX, action("ignore_entries", entry, post="yes"))

    chatuser.refresh_from_db()
    assert done.status_code == 302
    assert not OutboxEntry.objects.exists()
    assert chatuser.sync_state == "error"
    assert chatuser.sync_error.startswith("Ignored by admin on ")
    assert messages_of(done) == ["Ignored 1 dead entry."]


def test_ignore_on_everything_matching_counts_without_listing_all_then_runs_as_an_operation(
    admin_client: Any,
) -> None:
    bot = BotFactory()
    chatusers = ChatUserFactory.create_batch(103, bot=bot)
    entries = [dead_entry(c) for c in chatusers]
    across = {"select_across": "1"}

    confirm = admin_client.post(OUTBOX, action("ignore_entries", entries[0], **across)).content.decode()
    response = admin_client.post(OUTBOX, action("ignore_entries", entries[0], post="yes", **across))
    operation = run_started(response)

    assert "Ignore 103 dead entries?" in confirm
    assert confirm.count("<li>") == 101  # a hundred named, and "and 3 more"
    assert "and 3 more" in confirm
    assert (operation.kind, operation.status, operation.done, operation.total) == (
        "sync.dead_ignore",
        "done",
        103,
        103,
    )
    assert operation.result == "Ignored 103 dead entries."
    assert not OutboxEntry.objects.exists()


def test_retry_on_everything_matching_runs_as_an_operation(admin_client: Any) -> None:
    bot = BotFactory()
    chatusers = ChatUserFactory.create_batch(3, bot=bot)
    entries = [dead_entry(c) for c in chatusers]

    response = admin_client.post(OUTBOX, action("retry_entries", entries[0], select_across="1"))
    operation = run_started(response)

    assert operation.result == "Queued again 3 dead entries."
    assert [entries_of(c) for c in chatusers] == [[("pending", 3, True)]] * 3


def test_retry_action_leaves_entries_that_are_not_dead(admin_client: Any) -> None:
    chatuser = ChatUserFactory()
    OutboxEntry.objects.create(bot=chatuser.bot, object_type=LABEL, object_id=chatuser.pk, attempts=1)
    entry = OutboxEntry.objects.get()

    response = admin_client.post(f"{OUTBOX}?state=all", action("retry_entries", entry))

    assert entries_of(chatuser) == [("pending", 1, True)]
    assert messages_of(response) == [
        "Queued again 0 dead entries. 1 selected entry was not dead and left as is."
    ]


def test_outbox_entries_are_read_only(admin_client: Any) -> None:
    entry = dead_entry(ChatUserFactory())

    page = admin_client.get(f"{OUTBOX}{entry.pk}/change/")
    edit = admin_client.post(f"{OUTBOX}{entry.pk}/change/", {"state": "pending", "attempts": "0"})
    listing = admin_client.get(OUTBOX)

    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert edit.status_code == 403
    assert admin_client.get(f"{OUTBOX}add/").status_code == 403
    assert admin_client.get(f"{OUTBOX}{entry.pk}/delete/").status_code == 403
    assert set(listing.context["action_form"].fields["action"].choices) == {
        ("", "---------"),
        ("retry_entries", "Retry the selected dead entries"),
        ("ignore_entries", "Ignore the selected dead entries…"),
    }
    assert OutboxEntry.objects.get().state == "dead"


def test_a_viewer_of_the_outbox_has_no_retry_or_ignore(viewer_client: Any) -> None:
    entry = dead_entry(ChatUserFactory())

    listing = viewer_client.get(OUTBOX)
    response = viewer_client.post(OUTBOX, action("retry_entries", entry))

    assert listing.status_code == 200
    assert listing.context["action_form"] is None
    assert OutboxEntry.objects.get().state == "dead"
    assert response.status_code == 200  # no action to run: the list again


# --- conflicts ---------------------------------------------------------------------------------


def test_the_conflict_list_shows_open_conflicts_first(admin_client: Any, admin_user: Any) -> None:
    bot = BotFactory()
    older, resolved, newer = (ChatUserFactory(bot=bot, name=n) for n in ("Older", "Resolved", "Newer"))
    [first] = in_conflict(older, ("name", "a", "Older", "b"))
    [done] = in_conflict(resolved, ("name", "a", "Resolved", "b"))
    [last] = in_conflict(newer, ("name", "a", "Newer", "b"))
    done.resolution = "ours"
    done.save()

    response = admin_client.get(CONFLICTS)

    assert [c.pk for c in response.context["cl"].result_list] == [last.pk, first.pk, done.pk]


def test_the_conflict_list_costs_the_same_queries_for_5_and_50_rows(
    admin_client: Any, admin_user: Any
) -> None:
    bot = BotFactory()

    def add(n: int) -> None:
        for chatuser in ChatUserFactory.create_batch(n, bot=bot):
            [conflict] = in_conflict(chatuser, ("name", "a", chatuser.name, "b"))
            if chatuser.pk % 2:
                SyncConflict.objects.filter(pk=conflict.pk).update(resolution="ours", resolved_by=admin_user)

    admin_client.get("/admin/")  # the sidebar's saved views are read once, then kept
    add(5)
    with_5 = queries(admin_client, CONFLICTS)
    add(45)
    with_50 = queries(admin_client, CONFLICTS)

    # Session, user, the bots of the filter, the filtered and the full count, the page.
    assert (with_5, with_50) == (6, 6)


def test_the_conflict_page_shows_the_three_values_and_both_buttons(admin_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))

    response = admin_client.get(f"{CONFLICTS}{conflict.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert crumbs(page) == ["Home", "Sync", "Conflicts", str(conflict)]
    assert '<td class="base">Ada</td>' in page
    assert '<td class="ours">Ours</td>' in page
    assert '<td class="theirs">Theirs</td>' in page
    assert f'action="{CONFLICTS}{conflict.pk}/keep-ours/"' in page
    assert f'action="{CONFLICTS}{conflict.pk}/take-theirs/"' in page


def test_the_conflict_page_says_when_ours_changed_since(admin_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))
    ChatUser.objects.filter(pk=chatuser.pk).update(name="Ours again")

    response = admin_client.get(f"{CONFLICTS}{conflict.pk}/change/")

    assert "Changed here since: now Ours again." in response.content.decode()


def test_take_theirs_button_resolves_and_says_the_object_is_in_sync(admin_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ours", surname="")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))

    response = admin_client.post(f"{CONFLICTS}{conflict.pk}/take-theirs/")

    chatuser.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == f"{CONFLICTS}{conflict.pk}/change/"
    assert (chatuser.name, chatuser.sync_state) == ("Theirs", "synced")
    assert messages_of(response) == ["Took Userbot's value for “name” of Ours: it is in sync with Userbot."]
    again = admin_client.post(f"{CONFLICTS}{conflict.pk}/keep-ours/")
    # The first message was never shown: the test follows no redirect.
    assert messages_of(again)[1:] == [
        "This conflict is no longer open: someone or something resolved it already."
    ]
    assert SyncConflict.objects.get().resolution == "theirs"


def test_keep_ours_button_queues_the_push(admin_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ours", surname="")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))

    response = admin_client.post(f"{CONFLICTS}{conflict.pk}/keep-ours/")

    assert messages_of(response) == ["Kept ours for “name” of Ours: it is queued for a push to Userbot."]
    assert entries_of(chatuser) == [("pending", 1, True)]


def test_a_viewer_sees_a_conflict_but_cannot_resolve_it(viewer_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))

    page = viewer_client.get(f"{CONFLICTS}{conflict.pk}/change/")
    response = viewer_client.post(f"{CONFLICTS}{conflict.pk}/take-theirs/")

    assert page.status_code == 200
    assert b"Take theirs" not in page.content
    assert response.status_code == 403
    assert SyncConflict.objects.get().resolution == "open"
    assert ChatUser.objects.get().name == "Ours"


def test_bulk_take_theirs_resolves_the_open_selected_conflicts(admin_client: Any) -> None:
    bot = BotFactory()
    first, second = ChatUserFactory(bot=bot, name="A1"), ChatUserFactory(bot=bot, name="B1")
    [a] = in_conflict(first, ("name", "A", "A1", "A2"))
    [b] = in_conflict(second, ("name", "B", "B1", "B2"))
    SyncConflict.objects.filter(pk=b.pk).update(resolution="ours")

    response = admin_client.post(CONFLICTS, action("take_theirs", a, b))

    assert messages_of(response) == ["Took Userbot's value in 1 conflict. 1 selected conflict was not open."]
    assert list(ChatUser.objects.order_by("pk").values_list("name", flat=True)) == ["A2", "B1"]


def test_bulk_keep_ours_resolves_every_selected_conflict(admin_client: Any) -> None:
    bot = BotFactory()
    first, second = ChatUserFactory(bot=bot, name="A1"), ChatUserFactory(bot=bot, name="B1")
    conflicts = [
        *in_conflict(first, ("name", "A", "A1", "A2")),
        *in_conflict(second, ("name", "B", "B1", "B2")),
    ]

    response = admin_client.post(CONFLICTS, action("keep_ours", *conflicts))

    assert messages_of(response) == ["Kept ours in 2 conflicts."]
    assert list(SyncConflict.objects.values_list("resolution", flat=True)) == ["ours", "ours"]
    assert [entries_of(c) for c in (first, second)] == [[("pending", 1, True)], [("pending", 1, True)]]


def test_conflicts_cannot_be_added_edited_or_deleted_by_hand(admin_client: Any) -> None:
    [conflict] = in_conflict(ChatUserFactory(name="Ours"), ("name", "Ada", "Ours", "Theirs"))

    assert admin_client.get(f"{CONFLICTS}add/").status_code == 403
    assert admin_client.get(f"{CONFLICTS}{conflict.pk}/delete/").status_code == 403
    admin_client.post(f"{CONFLICTS}{conflict.pk}/change/", {"resolution": "ours", "field": "x"})
    assert SyncConflict.objects.values_list("resolution", "field").get() == ("open", "name")


# --- the chat user page -------------------------------------------------------------------------


def test_the_chat_user_page_links_to_its_open_conflicts(admin_client: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    calm = ChatUserFactory(bot=chatuser.bot)
    in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"), ("surname", "L", "Rossi", "Bianchi"))

    page = admin_client.get(f"{CHATUSERS}{chatuser.pk}/change/").content.decode()
    quiet = admin_client.get(f"{CHATUSERS}{calm.pk}/change/").content.decode()

    url = f"{CONFLICTS}?object_type=chatusers.chatuser&amp;object_id={chatuser.pk}&amp;resolution__exact=open"
    assert "This chat user has 2 open conflicts with Userbot" in page
    assert f'<a href="{url}">they are resolved</a>' in page
    assert "open conflict" not in quiet
    listed = admin_client.get(url.replace("&amp;", "&"))
    assert [c.field for c in listed.context["cl"].result_list] == ["surname", "name"]


def test_push_now_action_queues_the_selected_chat_users(admin_client: Any) -> None:
    bot = BotFactory()
    errored, synced, untouched = ChatUserFactory(bot=bot), ChatUserFactory(bot=bot), ChatUserFactory(bot=bot)
    dead_entry(errored)

    response = admin_client.post(CHATUSERS, action("push_now", errored, synced))

    assert response.status_code == 302
    assert messages_of(response) == ["2 chat users queued for a push to Userbot."]
    assert [entries_of(c) for c in (errored, synced, untouched)] == [
        [("pending", 0, True)],
        [("pending", 0, True)],
        [],
    ]
    assert LogEntry.objects.filter(change_message="Push to Userbot requested").count() == 2


def test_bulk_take_theirs_says_how_many_were_refused(admin_client: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, email="taken@example.com")
    blocked, free = ChatUserFactory(bot=bot, email="a@example.com"), ChatUserFactory(bot=bot, name="B1")
    conflicts = [
        *in_conflict(blocked, ("email", "x@example.com", "a@example.com", "taken@example.com")),
        *in_conflict(free, ("name", "B", "B1", "B2")),
    ]

    response = admin_client.post(CONFLICTS, action("take_theirs", *conflicts))

    assert messages_of(response) == [
        "Took Userbot's value in 1 conflict. 1 could not be resolved (resolved meanwhile, or refused):"
        " see its page."
    ]
    assert dict(SyncConflict.objects.values_list("object_id", "resolution")) == {
        blocked.pk: "open",
        free.pk: "theirs",
    }


@pytest.mark.parametrize(
    ("factory", "url"),
    [
        ("SegmentFactory", "/admin/chatusers/segment/{}/change/"),
        ("InteractionFactory", "/admin/knowledge/interaction/{}/change/"),
        ("AutomatedMessageFactory", "/admin/automation/automatedmessage/{}/change/"),
    ],
)
def test_every_synced_change_page_warns_of_its_open_conflicts(
    admin_client: Any, factory: str, url: str
) -> None:
    from tests import factories, factories_content

    obj = getattr(factories, factory, None) or getattr(factories_content, factory)
    obj = obj()
    SyncConflict.objects.create(
        bot=obj.bot,
        object_type=obj._meta.label_lower,
        object_id=obj.pk,
        object_repr=str(obj),
        field="name",
        base_value="a",
        local_value="b",
        remote_value="c",
    )

    page = admin_client.get(url.format(obj.pk)).content.decode()

    assert "has 1 open conflict with Userbot" in page
    link = conflicts_url(object_type=obj._meta.label_lower, object_id=obj.pk)
    assert f'href="{escape(link)}"' in page


def deleted_on_userbot_with_a_change_waiting(**policy: str) -> ChatUser:
    """A chat user Userbot deleted while a change here waited: the open deletion conflict."""
    chatuser = ChatUserFactory(name="Ada", remote_id="r1", synced_snapshot={"name": "Ada"})
    bot_sync = BotSync.objects.create(bot=chatuser.bot, **policy)
    mark_changed([chatuser])
    objects_gone(label=LABEL, bot_sync=bot_sync, pks=[chatuser.pk], actor=sync_actor())
    return chatuser


def test_a_deletion_conflict_offers_restore_on_userbot_and_accept_the_delete(admin_client: Any) -> None:
    chatuser = deleted_on_userbot_with_a_change_waiting()
    conflict = SyncConflict.objects.get(resolution="open")

    page = admin_client.get(f"{CONFLICTS}{conflict.pk}/change/").content.decode()

    assert '<td class="theirs">(deleted on Userbot)</td>' in page
    assert 'value="Restore on Userbot"' in page and 'value="Accept the delete"' in page
    assert "remote-delete policy (delete here too) applies" in page
    assert "Keep ours" not in page
    change_page = admin_client.get(f"{CHATUSERS}{chatuser.pk}/change/").content.decode()
    assert "Deleted on Userbot while a change made here waited to be sent" in change_page
    assert f'action="{CONFLICTS}{conflict.pk}/keep-ours/"' in change_page
    assert f'action="{CONFLICTS}{conflict.pk}/take-theirs/"' in change_page


def test_restore_on_userbot_from_the_chat_users_page_comes_back_to_it(admin_client: Any) -> None:
    chatuser = deleted_on_userbot_with_a_change_waiting()
    conflict = SyncConflict.objects.get(resolution="open")
    own_page = f"{CHATUSERS}{chatuser.pk}/change/"

    response = admin_client.post(f"{CONFLICTS}{conflict.pk}/keep-ours/", {"next": own_page})
    elsewhere = admin_client.post(f"{CONFLICTS}{conflict.pk}/keep-ours/", {"next": "https://example.com/"})

    assert response.status_code == 302 and response["Location"] == own_page
    assert elsewhere["Location"] == f"{CONFLICTS}{conflict.pk}/change/"
    assert 'id="sync-deleted-note"' not in admin_client.get(own_page).content.decode()


def test_accept_the_delete_button_deletes_the_chat_user_here(admin_client: Any) -> None:
    chatuser = deleted_on_userbot_with_a_change_waiting()
    conflict = SyncConflict.objects.get(resolution="open")

    response = admin_client.post(f"{CONFLICTS}{conflict.pk}/take-theirs/")

    assert messages_of(response) == ["Accepted the delete: Ada Rossi is deleted here too."]
    assert not ChatUser.objects.filter(pk=chatuser.pk).exists()
    assert not OutboxEntry.objects.exists()


def test_restore_on_userbot_button_queues_a_create(admin_client: Any) -> None:
    chatuser = deleted_on_userbot_with_a_change_waiting()
    conflict = SyncConflict.objects.get(resolution="open")

    response = admin_client.post(f"{CONFLICTS}{conflict.pk}/keep-ours/")

    chatuser.refresh_from_db()
    assert messages_of(response) == ["Ada Rossi is queued to be created on Userbot again, as it is here."]
    assert (chatuser.remote_id, chatuser.synced_snapshot, chatuser.sync_state) == (None, None, "pending")
    assert entries_of(chatuser) == [("pending", 0, True)]
