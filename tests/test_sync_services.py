"""The operator's side of the sync: conflicts, dead letters, push and pull now, status per bot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from backoffice.sync import services
from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.sync.selectors import bot_syncs_with_status
from backoffice.userbot.models import Bot
from chatusers import services as chatuser_services
from chatusers.models import ChatUser, Variable
from tests.conftest import RawWs
from tests.factories import BotFactory, ChatUserFactory
from tests.sync_helpers import LABEL, dead_entry, entries_of, history, in_conflict

# --- take theirs, keep ours ---------------------------------------------------------------


@pytest.mark.django_db
def test_take_theirs_sets_userbots_value_and_syncs_the_object_without_a_push(operator: Any) -> None:
    chatuser = ChatUserFactory(name="Ours", surname="Rossi")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))

    services.conflict_take_theirs(conflict=conflict, actor=operator)

    chatuser.refresh_from_db()
    conflict.refresh_from_db()
    assert (chatuser.name, chatuser.sync_state, chatuser.sync_error) == ("Theirs", "synced", "")
    assert entries_of(chatuser) == []
    assert (conflict.resolution, conflict.resolved_by) == ("theirs", operator)
    assert timezone.now() - conflict.resolved_at < timedelta(seconds=5)
    assert history(chatuser) == ["Conflict on name: took Userbot's value ('Ours' here, 'Theirs' on Userbot)"]


@pytest.mark.django_db
def test_keep_ours_wakes_the_parked_entry_so_the_relay_pushes_our_value(operator: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"), attempts=2)
    parked = OutboxEntry.objects.get()

    services.conflict_keep_ours(conflict=conflict, actor=operator)

    chatuser.refresh_from_db()
    conflict.refresh_from_db()
    assert (chatuser.name, chatuser.sync_state) == ("Ours", "pending")
    assert entries_of(chatuser) == [("pending", 2, True)]
    assert OutboxEntry.objects.get().pk == parked.pk
    assert (conflict.resolution, conflict.resolved_by) == ("ours", operator)
    assert history(chatuser) == ["Conflict on name: kept ours ('Ours' here, 'Theirs' on Userbot)"]


@pytest.mark.django_db
def test_keep_ours_queues_a_push_in_place_of_a_dead_entry(operator: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))
    OutboxEntry.objects.update(state="dead", last_error="400 invalid: no")

    services.conflict_keep_ours(conflict=conflict, actor=operator)

    chatuser.refresh_from_db()
    assert chatuser.sync_state == "pending"
    # The dead entry goes: the new one sends the chat user as it is now.
    assert entries_of(chatuser) == [("pending", 0, True)]


@pytest.mark.django_db
def test_an_object_stays_in_conflict_and_parked_until_its_last_conflict_is_resolved(operator: Any) -> None:
    chatuser = ChatUserFactory(name="Ours", surname="Mine")
    name, surname = in_conflict(
        chatuser, ("name", "Ada", "Ours", "Theirs"), ("surname", "L", "Mine", "Yours")
    )
    parked_until = OutboxEntry.objects.get().next_attempt_at

    services.conflict_take_theirs(conflict=name, actor=operator)

    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.surname, chatuser.sync_state) == ("Theirs", "Mine", "conflict")
    assert OutboxEntry.objects.get().next_attempt_at == parked_until

    services.conflict_take_theirs(conflict=surname, actor=operator)

    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.surname, chatuser.sync_state) == ("Theirs", "Yours", "synced")
    assert entries_of(chatuser) == []


@pytest.mark.django_db
def test_take_theirs_leaves_the_object_pending_when_another_local_change_waits(operator: Any) -> None:
    chatuser = ChatUserFactory(name="Ours", surname="Rossi")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))
    # A change of ours that Userbot has not seen yet, beside the conflict.
    ChatUser.objects.filter(pk=chatuser.pk).update(surname="Bianchi")

    services.conflict_take_theirs(conflict=conflict, actor=operator)

    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.surname, chatuser.sync_state) == ("Theirs", "Bianchi", "pending")
    assert entries_of(chatuser) == [("pending", 1, True)]


@pytest.mark.django_db
def test_take_theirs_of_a_variable_removed_on_userbot_removes_it_here(operator: Any) -> None:
    chatuser = ChatUserFactory()
    Variable.objects.create(chatuser=chatuser, name="plan", value="gold")
    [conflict] = in_conflict(chatuser, ("var:plan", "silver", "gold", None))

    services.conflict_take_theirs(conflict=conflict, actor=operator)

    chatuser.refresh_from_db()
    assert not Variable.objects.filter(chatuser=chatuser).exists()
    assert chatuser.sync_state == "synced"
    assert entries_of(chatuser) == []


@pytest.mark.django_db
def test_a_resolved_conflict_cannot_be_resolved_again(operator: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))
    services.conflict_keep_ours(conflict=conflict, actor=operator)
    stale = SyncConflict.objects.get(pk=conflict.pk)
    stale.resolution = "open"  # an admin page loaded before the first click

    with pytest.raises(ValidationError) as error:
        services.conflict_take_theirs(conflict=stale, actor=operator)

    chatuser.refresh_from_db()
    assert error.value.messages == [
        "This conflict is no longer open: someone or something resolved it already."
    ]
    assert (chatuser.name, chatuser.sync_state) == ("Ours", "pending")
    assert SyncConflict.objects.get().resolution == "ours"


@pytest.mark.django_db
def test_take_theirs_refuses_a_value_another_chat_user_here_holds(operator: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, email="taken@example.com")
    chatuser = ChatUserFactory(bot=bot, email="ours@example.com")
    [conflict] = in_conflict(chatuser, ("email", "old@example.com", "ours@example.com", "taken@example.com"))

    with pytest.raises(ValidationError) as error:
        services.conflict_take_theirs(conflict=conflict, actor=operator)

    chatuser.refresh_from_db()
    assert error.value.messages == [
        "Userbot's value of “email” cannot be set here: another chat user of the bot holds it."
    ]
    assert (chatuser.email, chatuser.sync_state) == ("ours@example.com", "conflict")
    assert SyncConflict.objects.get().resolution == "open"
    assert history(chatuser) == []


@pytest.mark.django_db
def test_a_conflict_of_an_object_deleted_here_closes_as_gone(operator: Any) -> None:
    chatuser = ChatUserFactory(name="Ours")
    [conflict] = in_conflict(chatuser, ("name", "Ada", "Ours", "Theirs"))
    chatuser_services.chatuser_delete(chatuser=chatuser, actor=operator)

    services.conflict_take_theirs(conflict=conflict, actor=operator)

    conflict.refresh_from_db()
    assert (conflict.resolution, conflict.resolved_by) == ("gone", operator)
    assert history(conflict) == ["Closed: the object was deleted here"]


@pytest.mark.django_db
def test_conflicts_resolve_skips_those_already_resolved(operator: Any) -> None:
    bot = BotFactory()
    first, second = ChatUserFactory(bot=bot, name="A1"), ChatUserFactory(bot=bot, name="B1")
    in_conflict(first, ("name", "A", "A1", "A2"))
    [b] = in_conflict(second, ("name", "B", "B1", "B2"))
    services.conflict_keep_ours(conflict=b, actor=operator)

    resolved = services.conflicts_resolve(
        conflicts=SyncConflict.objects.order_by("id"), resolution="theirs", actor=operator
    )

    assert resolved == 1
    assert dict(SyncConflict.objects.values_list("object_id", "resolution")) == {
        first.pk: "theirs",
        second.pk: "ours",
    }
    assert list(ChatUser.objects.order_by("pk").values_list("name", "sync__sync_state")) == [
        ("A2", "synced"),
        ("B1", "pending"),
    ]


# --- against Userbot: what the relay sends after a resolution ------------------------------


def _conflict_through_a_pull(bot: Bot, operator: Any, raw_ws: RawWs) -> ChatUser:
    chatuser = chatuser_services.chatuser_create(bot=bot, actor=operator, name="Ada")
    push_pending(bot)
    chatuser.refresh_from_db()
    raw_ws.ok("chatusers.import", {"filename": "x.csv", "csv": f"id,name\r\n{chatuser.remote_id},Theirs\r\n"})
    chatuser_services.chatuser_update(chatuser=chatuser, actor=operator, name="Ours")
    pull_bot(bot)
    assert push_pending(bot).parked == 1
    return chatuser


def _remote_names(raw_ws: RawWs) -> list[str]:
    return [u["name"] for u in raw_ws.ok("chatusers.get", {"offset": 0, "limit": 10})["chatusers"]]


@pytest.mark.django_db(transaction=True)
def test_keep_ours_reaches_userbot_on_the_next_push(bot: Bot, operator: Any, raw_ws: RawWs) -> None:
    chatuser = _conflict_through_a_pull(bot, operator, raw_ws)

    services.conflict_keep_ours(conflict=SyncConflict.objects.get(), actor=operator)
    report = push_pending(bot)

    chatuser.refresh_from_db()
    assert (report.sent, report.parked) == (1, 0)
    assert _remote_names(raw_ws) == ["Ours"]
    assert (chatuser.name, chatuser.sync_state) == ("Ours", "synced")
    assert not OutboxEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_take_theirs_sends_nothing_and_a_pull_finds_both_sides_equal(
    bot: Bot, operator: Any, raw_ws: RawWs
) -> None:
    chatuser = _conflict_through_a_pull(bot, operator, raw_ws)

    services.conflict_take_theirs(conflict=SyncConflict.objects.get(), actor=operator)
    report = push_pending(bot)
    pulled = pull_bot(bot)

    chatuser.refresh_from_db()
    assert (report.sent, report.parked) == (0, 0)
    assert pulled.get("chatusers", {}) == {}
    assert _remote_names(raw_ws) == ["Theirs"]
    assert (chatuser.name, chatuser.sync_state) == ("Theirs", "synced")
    assert SyncConflict.objects.filter(resolution="open").count() == 0


# --- dead letters ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_puts_a_dead_entry_back_due_now_with_its_attempts(operator: Any) -> None:
    chatuser = ChatUserFactory()
    entry = dead_entry(chatuser)

    pending = services.outbox_entry_retry(entry=entry, actor=operator)

    chatuser.refresh_from_db()
    assert pending.pk == entry.pk
    assert entries_of(chatuser) == [("pending", 3, True)]
    assert OutboxEntry.objects.get().claimed_by == ""
    assert (chatuser.sync_state, chatuser.sync_error) == ("pending", "400 invalid: email taken")
    assert history(chatuser) == ["Push retried after 3 failed attempts: 400 invalid: email taken"]


@pytest.mark.django_db
def test_retry_drops_the_dead_entry_when_the_object_is_already_queued(operator: Any) -> None:
    chatuser = ChatUserFactory()
    entry = dead_entry(chatuser)
    chatuser_services.chatuser_update(chatuser=chatuser, actor=operator, name="Changed")
    queued = OutboxEntry.objects.get(state="pending")

    pending = services.outbox_entry_retry(entry=entry, actor=operator)

    assert pending.pk == queued.pk
    assert entries_of(chatuser) == [("pending", 0, True)]


@pytest.mark.django_db
def test_retry_and_ignore_refuse_an_entry_that_is_not_dead(operator: Any) -> None:
    chatuser = ChatUserFactory()
    chatuser_services.chatuser_update(chatuser=chatuser, actor=operator, name="Changed")
    entry = OutboxEntry.objects.get()

    for service in (services.outbox_entry_retry, services.outbox_entry_ignore):
        with pytest.raises(ValidationError):
            service(entry=entry, actor=operator)

    assert entries_of(chatuser) == [("pending", 0, True)]


@pytest.mark.django_db
def test_ignore_drops_the_dead_entry_and_says_who_on_the_object(operator: Any) -> None:
    chatuser = ChatUserFactory()
    entry = dead_entry(chatuser)

    services.outbox_entry_ignore(entry=entry, actor=operator)

    chatuser.refresh_from_db()
    assert entries_of(chatuser) == []
    assert chatuser.sync_state == "error"
    when = timezone.localtime().strftime("%Y-%m-%d")
    assert chatuser.sync_error.startswith(f"Ignored by operator on {when} ")
    assert chatuser.sync_error.endswith(": 400 invalid: email taken")
    assert history(chatuser) == ["Dead push ignored: 400 invalid: email taken"]


@pytest.mark.django_db
def test_ignore_of_a_dead_deletion_leaves_its_trace_on_the_entry(operator: Any) -> None:
    bot = BotFactory()
    entry = OutboxEntry.objects.create(
        bot=bot, object_type=LABEL, object_id=999, deleted=True, remote_id="r9", state="dead", last_error="x"
    )

    services.outbox_entry_ignore(entry=entry, actor=operator)

    assert not OutboxEntry.objects.exists()
    assert history(entry) == ["Dead deletion ignored: x"]


# --- push and pull now ----------------------------------------------------------------------


@pytest.mark.django_db
def test_push_now_is_queued_only_once_the_transaction_commits(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (A pull asked for now is a long operation: tests/test_operations_pull.py.)
    bot = BotFactory()
    pushes: list[int] = []
    monkeypatch.setattr("backoffice.sync.tasks.push.delay", pushes.append)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.sync_push_now(bot=bot)
        assert pushes == []

    assert len(callbacks) == 1
    assert pushes == [bot.pk]


@pytest.mark.django_db
def test_objects_push_now_queues_each_object_and_replaces_its_dead_entry(operator: Any) -> None:
    bot = BotFactory()
    errored, synced, conflicted = (ChatUserFactory(bot=bot) for _ in range(3))
    dead_entry(errored)
    in_conflict(conflicted, ("name", "A", conflicted.name, "B"))

    pushed = services.objects_push_now(objects=ChatUser.objects.filter(bot=bot), actor=operator)

    assert pushed == 3
    assert [entries_of(c) for c in (errored, synced, conflicted)] == [
        [("pending", 0, True)],
        [("pending", 0, True)],
        [("pending", 1, False)],  # still parked: the conflict decides
    ]
    assert list(ChatUser.objects.order_by("pk").values_list("sync__sync_state", flat=True)) == [
        "pending",
        "pending",
        "conflict",
    ]
    assert history(synced) == ["Push to Userbot requested"]


# --- the sync page's rows and status ---------------------------------------------------------


@pytest.mark.django_db
def test_bot_syncs_create_missing_gives_each_bot_its_defaults_once() -> None:
    first, second, third = BotFactory(), BotFactory(), BotFactory()
    BotSync.objects.create(bot=second, conflict_policy="remote")

    assert services.bot_syncs_create_missing() == 2
    assert services.bot_syncs_create_missing() == 0
    assert dict(BotSync.objects.values_list("bot_id", "conflict_policy")) == {
        first.pk: "manual",
        second.pk: "remote",
        third.pk: "manual",
    }


@pytest.mark.django_db
def test_bot_sync_update_saves_and_audits_only_what_changed(operator: Any) -> None:
    bot_sync = BotSync.objects.create(bot=BotFactory())

    changed = services.bot_sync_update(
        bot_sync=bot_sync,
        actor=operator,
        conflict_policy="local",
        on_remote_delete="delete",
        pull_interval_s=300,
    )

    bot_sync.refresh_from_db()
    assert changed == ["conflict_policy", "pull_interval_s"]
    assert (bot_sync.conflict_policy, bot_sync.pull_interval_s) == ("local", 300)
    assert history(bot_sync) == ["Changed conflict_policy, pull_interval_s"]
    with pytest.raises(ValidationError):
        services.bot_sync_update(bot_sync=bot_sync, actor=operator, conflict_policy="whoever")
    with pytest.raises(TypeError):
        services.bot_sync_update(bot_sync=bot_sync, actor=operator, reconnects=0)


@pytest.mark.django_db
def test_sync_status_counts_each_bots_queue_dead_letters_and_conflicts() -> None:
    bot, other = BotFactory(name="A"), BotFactory(name="B")
    users = ChatUserFactory.create_batch(4, bot=bot)
    now = timezone.now()
    OutboxEntry.objects.bulk_create(
        [
            OutboxEntry(bot=bot, object_type=LABEL, object_id=users[0].pk, state="pending"),
            OutboxEntry(bot=bot, object_type=LABEL, object_id=users[1].pk, state="in_flight"),
            OutboxEntry(bot=bot, object_type=LABEL, object_id=users[2].pk, state="dead"),
            OutboxEntry(bot=other, object_type=LABEL, object_id=99, state="dead"),
        ]
    )
    OutboxEntry.objects.filter(object_id=users[0].pk).update(created_at=now - timedelta(minutes=7))
    OutboxEntry.objects.filter(object_id=users[1].pk).update(created_at=now - timedelta(hours=2))
    in_conflict(users[3], ("name", "a", "b", "c"))
    OutboxEntry.objects.filter(object_id=users[3].pk).update(created_at=now - timedelta(minutes=3))
    BotSync.objects.create(bot=bot, reconnects=4)
    BotSync.objects.create(bot=other)

    statuses = list(bot_syncs_with_status(BotSync.objects.order_by("bot__name")))

    assert [(s.bot, s.queue_depth, s.dead_count, s.open_conflicts, s.reconnects) for s in statuses] == [
        (bot, 3, 1, 1, 4),
        (other, 0, 1, 0, 0),
    ]
    # The oldest pending entry, not the older one in flight.
    assert statuses[0].oldest_pending_at == now - timedelta(minutes=7)
    assert statuses[1].oldest_pending_at is None
