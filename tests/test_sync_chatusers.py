"""The sync engine with chat users, against the sandbox on loopback: push, pull, merge."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command

from backoffice.sync.models import BotSync, OutboxEntry, SyncConflict
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.userbot.errors import ConnectionLost
from chatusers import services
from chatusers.models import ChatUser, Segment, Tag
from chatusers.sync import ChatUserKind
from chatusers.sync import pull as pull_module
from chatusers.sync.tags import TagBook
from tests.conftest import RawWs

pytestmark = pytest.mark.django_db(transaction=True)


def remote_users(ws: RawWs) -> list[dict[str, Any]]:
    return ws.ok("chatusers.get", {"offset": 0, "limit": 1000})["chatusers"]


def tag_names(ws: RawWs) -> dict[str, str]:
    return {t["id"]: t["name"] for t in ws.ok("chatusers.get-bot-tags")["tags"]}


def test_a_new_chat_user_reaches_userbot_with_its_tags_and_variables(bot, operator, raw_ws):
    vip = services.tag_create(bot=bot, name="VIP", color="#e6194b", actor=operator)
    chatuser = services.chatuser_create(
        bot=bot, actor=operator, name="Ada", email="ada@example.com", tags=[vip], variables={"plan": "gold"}
    )

    report = push_pending(bot)

    assert report.sent == 1 and report.dead == 0 and report.retrying == 0
    [remote] = remote_users(raw_ws)
    assert remote["client_ref"] == chatuser.client_ref
    assert (remote["name"], remote["email"]) == ("Ada", "ada@example.com")
    assert [v["name"] + "=" + v["value"] for v in remote["variables"]] == ["plan=gold"]
    tags = raw_ws.ok("chatusers.get-bot-tags")["tags"]
    assert [(t["name"], t["color"]) for t in tags] == [("VIP", "#e6194b")]
    assert remote["tags"] == [tags[0]["id"]]
    chatuser.refresh_from_db()
    vip.refresh_from_db()
    assert chatuser.remote_id == remote["id"] and chatuser.sync_state == "synced"
    assert vip.remote_id == tags[0]["id"]
    assert not OutboxEntry.objects.exists()


def test_an_edit_sends_only_what_changed_and_keeps_a_remote_change_of_another_field(bot, operator, raw_ws):
    chatuser = services.chatuser_create(
        bot=bot, actor=operator, name="Ada", surname="L", email="a@example.com"
    )
    push_pending(bot)
    chatuser.refresh_from_db()
    # Userbot changes the surname; we change the name, before either side has seen the other.
    raw_ws.ok(
        "chatusers.import", {"filename": "x.csv", "csv": f"id,surname\r\n{chatuser.remote_id},Lovelace\r\n"}
    )
    services.chatuser_update(chatuser=chatuser, actor=operator, name="Augusta")

    push_pending(bot)

    [remote] = remote_users(raw_ws)
    assert (remote["name"], remote["surname"]) == ("Augusta", "Lovelace")
    pull_bot(bot)
    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.surname, chatuser.sync_state) == ("Augusta", "Lovelace", "synced")


def test_a_pull_mirrors_userbot_and_a_second_pull_changes_nothing(bot, raw_ws):
    raw_ws.ok(
        "chatusers.create",
        [
            {
                "name": "Bo",
                "email": "bo@example.com",
                "tags": ["lead"],
                "variables": [{"name": "x", "value": "1"}],
            },
            {"name": "Cy", "phone": "+393331234567"},
        ],
    )

    first = pull_bot(bot)
    second = pull_bot(bot)

    assert first["chatusers"] == {"created": 2}
    assert second.get("chatusers", {}) == {}
    bo = ChatUser.objects.get(email="bo@example.com")
    assert [t.name for t in bo.tags.all()] == ["lead"]
    assert {v.name: v.value for v in bo.variables.all()} == {"x": "1"}
    assert bo.sync_state == "synced"
    assert not OutboxEntry.objects.exists()


def test_same_field_changed_on_both_sides_is_a_manual_conflict_by_default(bot, operator, raw_ws):
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Ada")
    push_pending(bot)
    chatuser.refresh_from_db()
    raw_ws.ok("chatusers.import", {"filename": "x.csv", "csv": f"id,name\r\n{chatuser.remote_id},Theirs\r\n"})
    services.chatuser_update(chatuser=chatuser, actor=operator, name="Ours")

    pull_bot(bot)
    report = push_pending(bot)

    chatuser.refresh_from_db()
    assert chatuser.name == "Ours" and chatuser.sync_state == "conflict"
    [conflict] = SyncConflict.objects.all()
    assert (conflict.field, conflict.base_value, conflict.local_value, conflict.remote_value) == (
        "name",
        "Ada",
        "Ours",
        "Theirs",
    )
    assert conflict.resolution == "open"
    assert report.sent == 0 and report.parked == 1
    assert remote_users(raw_ws)[0]["name"] == "Theirs"


@pytest.mark.parametrize(("policy", "expected"), [("remote", "Theirs"), ("local", "Ours")])
def test_a_conflict_policy_settles_the_same_field_on_both_sides(bot, operator, raw_ws, policy, expected):
    BotSync.objects.create(bot=bot, conflict_policy=policy)
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Ada")
    push_pending(bot)
    chatuser.refresh_from_db()
    raw_ws.ok("chatusers.import", {"filename": "x.csv", "csv": f"id,name\r\n{chatuser.remote_id},Theirs\r\n"})
    services.chatuser_update(chatuser=chatuser, actor=operator, name="Ours")

    pull_bot(bot)
    push_pending(bot)

    chatuser.refresh_from_db()
    assert chatuser.name == expected and chatuser.sync_state == "synced"
    assert remote_users(raw_ws)[0]["name"] == expected
    [conflict] = SyncConflict.objects.all()
    assert conflict.resolution == {"remote": "auto_remote", "local": "auto_local"}[policy]


def test_deletes_travel_both_ways(bot, operator, raw_ws):
    a = services.chatuser_create(bot=bot, actor=operator, name="A")
    b = services.chatuser_create(bot=bot, actor=operator, name="B")
    push_pending(bot)
    a.refresh_from_db()
    b.refresh_from_db()

    services.chatuser_delete(chatuser=a, actor=operator)
    push_pending(bot)
    raw_ws.ok("chatusers.delete", {"ids": [b.remote_id]})
    report = pull_bot(bot)

    assert remote_users(raw_ws) == []
    assert not ChatUser.objects.exists()
    assert report["chatusers"] == {"deleted": 1}


def test_a_refused_create_goes_to_dead_letter_and_the_rest_flows(bot, operator, raw_ws):
    raw_ws.ok("chatusers.create", [{"name": "Held", "email": "taken@example.com"}])
    services.chatuser_create(bot=bot, actor=operator, name="Dup", email="taken@example.com")
    services.chatuser_create(bot=bot, actor=operator, name="Fine", email="fine@example.com")

    report = push_pending(bot)

    assert (report.sent, report.dead) == (1, 1)
    [dead] = OutboxEntry.objects.filter(state="dead")
    assert "email" in dead.last_error
    dup = ChatUser.objects.get(name="Dup")
    assert dup.sync_state == "error" and "email" in dup.sync_error
    assert sorted(u["name"] for u in remote_users(raw_ws)) == ["Fine", "Held"]


def test_tag_changes_go_as_add_and_remove_and_merge_with_remote_tag_changes(bot, operator, raw_ws):
    a = services.tag_create(bot=bot, name="a", actor=operator)
    b = services.tag_create(bot=bot, name="b", actor=operator)
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="T", tags=[a])
    push_pending(bot)
    chatuser.refresh_from_db()
    raw_ws.ok("chatusers.add-tag", {"chatuser_ids": [chatuser.remote_id], "tag": {"name": "remote-tag"}})
    services.chatuser_add_tag(tag=b, chatuser=chatuser, actor=operator)
    services.chatuser_remove_tag(tag=a, chatuser=chatuser, actor=operator)

    push_pending(bot)
    pull_bot(bot)

    names = tag_names(raw_ws)
    assert sorted(names[t] for t in remote_users(raw_ws)[0]["tags"]) == ["b", "remote-tag"]
    assert sorted(t.name for t in chatuser.tags.all()) == ["b", "remote-tag"]
    assert Tag.objects.get(name="remote-tag").remote_id is not None


def test_a_chat_user_deleted_on_userbot_is_kept_and_flagged_once_under_the_keep_policy(bot, operator, raw_ws):
    BotSync.objects.create(bot=bot, on_remote_delete="keep")
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Kept")
    push_pending(bot)
    chatuser.refresh_from_db()
    raw_ws.ok("chatusers.delete", {"ids": [chatuser.remote_id]})

    first = pull_bot(bot)
    second = pull_bot(bot)

    chatuser.refresh_from_db()
    assert chatuser.sync_state == "error"
    assert chatuser.sync_error == "Deleted on Userbot; kept here by the bot's policy."
    assert first["chatusers"] == {"kept": 1}
    assert second.get("chatusers", {}) == {}
    history = LogEntry.objects.filter(
        object_id=str(chatuser.pk), change_message="Deleted on Userbot; kept here"
    )
    assert history.count() == 1


def test_a_create_whose_answer_was_lost_is_adopted_not_duplicated(bot, operator, raw_ws):
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Once", email="once@example.com")
    # Our create reached Userbot, its answer did not reach us.
    [remote] = raw_ws.ok("chatusers.create", [{"client_ref": chatuser.client_ref, "name": "Once"}])[
        "chatusers"
    ]

    pull_bot(bot)
    report = push_pending(bot)

    chatuser.refresh_from_db()
    assert chatuser.remote_id == remote["id"]
    assert report.sent == 1
    [only] = remote_users(raw_ws)
    assert (only["id"], only["email"]) == (remote["id"], "once@example.com")
    assert ChatUser.objects.count() == 1


def test_a_create_refused_for_a_taken_email_is_linked_to_userbots_chat_user_by_the_next_pull(
    bot, operator, raw_ws
):
    [held] = raw_ws.ok("chatusers.create", [{"name": "Held", "email": "taken@example.com"}])["chatusers"]
    services.chatuser_create(bot=bot, actor=operator, name="Dup", email="taken@example.com")
    push_pending(bot)

    pull_bot(bot)

    dup = ChatUser.objects.get(name="Dup")
    assert (dup.remote_id, dup.sync_state) == (held["id"], "conflict")
    [conflict] = SyncConflict.objects.filter(object_id=dup.pk)
    assert (conflict.field, conflict.base_value, conflict.local_value, conflict.remote_value) == (
        "name",
        None,
        "Dup",
        "Held",
    )
    assert ChatUser.objects.count() == 1


def test_a_list_userbot_fails_to_give_does_not_stop_the_pull_of_the_others(bot, raw_ws, monkeypatch):
    raw_ws.ok("chatusers.create-segment", {"name": "Everyone", "match": "all", "filters": []})

    def refuse(self: Any, ctx: Any) -> None:
        raise ConnectionLost("chatusers.get: the connection dropped")

    monkeypatch.setattr(ChatUserKind, "pull", refuse)
    report = pull_bot(bot)

    state = BotSync.objects.get(bot=bot)
    assert state.pull_error == "chatusers.chatuser: chatusers.get: the connection dropped"
    assert report["errors"] == {"kinds": 1}
    assert list(Segment.objects.values_list("name", flat=True)) == ["Everyone"]


def test_a_first_load_that_dies_resumes_at_its_checkpoint(bot, raw_ws, monkeypatch):
    for start in range(0, 2500, 500):
        raw_ws.ok("chatusers.create", [{"name": f"U{n}"} for n in range(start, start + 500)])
    monkeypatch.setattr(pull_module, "APPLY_BATCH", 1000)
    real_settle = pull_module.Scan._settle
    applied: list[int] = []

    def dies_on_the_second_batch(self: Any, remote: dict[str, Any]) -> None:
        if applied:
            raise ConnectionLost("the worker died")
        applied.append(len(remote))
        real_settle(self, remote)

    monkeypatch.setattr(pull_module.Scan, "_settle", dies_on_the_second_batch)
    with pytest.raises(ConnectionLost):
        pull_module.Scan(_context(bot), TagBook(bot)).run()
    assert BotSync.objects.get(bot=bot).pull_checkpoint == {"chatusers_offset": 1000}
    assert ChatUser.objects.count() == 1000

    monkeypatch.setattr(pull_module.Scan, "_settle", real_settle)
    resumed = pull_bot(bot)
    complete = pull_bot(bot)

    assert resumed["chatusers"] == {"created": 1500, "resumed_at": 1000}
    assert complete.get("chatusers", {}) == {}
    assert ChatUser.objects.count() == 2500
    assert BotSync.objects.get(bot=bot).pull_checkpoint == {}


def test_a_first_load_takes_a_chat_user_met_twice_once_with_its_tags_and_variables(bot, raw_ws, monkeypatch):
    raw_ws.ok(
        "chatusers.create",
        [
            {
                "name": f"U{n}",
                "tags": ["lead"] if n % 2 else [],
                "variables": [{"name": "n", "value": str(n)}],
            }
            for n in range(4)
        ],
    )
    monkeypatch.setattr(pull_module, "PAGE", 2)
    monkeypatch.setattr(pull_module, "APPLY_BATCH", 2)
    real_pages = pull_module.Scan._pages

    def pages_with_repeats(self: Any, start: int) -> Any:
        # Paging while Userbot adds chat users meets some twice: within one batch, and in
        # a later batch, perhaps applied at the same time as the first one.
        met: list[dict[str, Any]] = []
        for number, (offset, users) in enumerate(real_pages(self, start)):
            repeats = [] if not users else [users[-1]] if number == 0 else [met[0]]
            met.extend(users)
            yield offset, users + repeats

    monkeypatch.setattr(pull_module.Scan, "_pages", pages_with_repeats)

    report = pull_bot(bot)

    assert report["chatusers"]["created"] == 4
    assert sorted(ChatUser.objects.values_list("name", flat=True)) == ["U0", "U1", "U2", "U3"]
    assert sorted(ChatUser.objects.filter(tags__name="lead").values_list("name", flat=True)) == ["U1", "U3"]
    for chatuser in ChatUser.objects.all():
        assert [(v.name, v.value) for v in chatuser.variables.all()] == [("n", chatuser.name[1:])]
        assert chatuser.sync_state == "synced" and chatuser.synced_snapshot["name"] == chatuser.name
    monkeypatch.setattr(pull_module.Scan, "_pages", real_pages)
    assert pull_bot(bot).get("chatusers", {}) == {}


def test_a_first_load_whose_batch_holds_one_email_twice_takes_the_rest_of_it_whole(bot, raw_ws, monkeypatch):
    # A first load COPYs its batches; one that breaks a key here (an email is one chat
    # user's whatever its case, which Userbot may see otherwise) goes the careful way.
    raw_ws.ok(
        "chatusers.create",
        [
            {
                "name": "Ada",
                "email": "ada@example.com",
                "tags": ["lead"],
                "variables": [{"name": "n", "value": "1"}],
            },
            {"name": "Twin", "email": "twin@example.com"},
            {
                "name": "Bo",
                "email": "bo@example.com",
                "tags": ["lead"],
                "variables": [{"name": "n", "value": "2"}],
            },
        ],
    )
    real_pages = pull_module.Scan._pages

    def pages_with_a_twin(self: Any, start: int) -> Any:
        for offset, users in real_pages(self, start):
            for user in users:
                if user["name"] == "Twin":
                    user["email"] = "ADA@example.com"
            yield offset, users

    monkeypatch.setattr(pull_module.Scan, "_pages", pages_with_a_twin)

    report = pull_bot(bot)

    assert report["chatusers"] == {"created": 2, "deferred": 1}
    assert sorted(ChatUser.objects.values_list("name", flat=True)) == ["Ada", "Bo"]
    for chatuser in ChatUser.objects.all():
        assert chatuser.sync_state == "synced" and chatuser.remote_id
        assert [t.name for t in chatuser.tags.all()] == ["lead"]
        assert [v.value for v in chatuser.variables.all()] == ["1" if chatuser.name == "Ada" else "2"]


def _context(bot: Any) -> Any:
    from django.utils import timezone

    from backoffice.sync.kinds import PullContext
    from backoffice.sync.pull import bot_sync
    from backoffice.userbot.connections import client_for

    client = client_for(bot)
    return PullContext(
        bot=bot, settings=bot_sync(bot), client=client, started_at=timezone.now(), renew_lease=lambda: None
    )


def test_a_push_holds_back_a_field_userbot_changed_too_and_the_pull_makes_it_a_conflict(
    bot, operator, raw_ws
):
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Ada", email="ada@example.com")
    push_pending(bot)
    chatuser.refresh_from_db()
    raw_ws.ok("chatusers.import", {"filename": "x.csv", "csv": f"id,name\r\n{chatuser.remote_id},Theirs\r\n"})
    services.chatuser_update(chatuser=chatuser, actor=operator, name="Ours")

    held = push_pending(bot)

    assert (held.sent, held.retrying, held.needs_pull) == (0, 1, True)
    assert remote_users(raw_ws)[0]["name"] == "Theirs"
    entry = OutboxEntry.objects.get()
    assert entry.last_error == "Changed on Userbot as well (name); the next pull settles it."

    pull_bot(bot)

    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.sync_state) == ("Ours", "conflict")
    assert SyncConflict.objects.get().remote_value == "Theirs"


def test_the_sync_command_pulls_at_once_when_its_push_is_held_back(bot, operator, raw_ws):
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Ada", email="ada@example.com")
    push_pending(bot)
    chatuser.refresh_from_db()
    raw_ws.ok("chatusers.import", {"filename": "x.csv", "csv": f"id,name\r\n{chatuser.remote_id},Theirs\r\n"})
    services.chatuser_update(chatuser=chatuser, actor=operator, name="Ours")
    out = io.StringIO()

    call_command("sync", "--bot", bot.sitekey, "--push", stdout=out)

    chatuser.refresh_from_db()
    assert (chatuser.name, chatuser.sync_state) == ("Ours", "conflict")
    assert SyncConflict.objects.get().remote_value == "Theirs"
    assert "Pull: chatusers: conflicts 1" in out.getvalue()


def test_a_pull_does_not_bring_back_a_chat_user_whose_deletion_waits_to_be_sent(bot, operator, raw_ws):
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Gone")
    push_pending(bot)
    chatuser.refresh_from_db()
    services.chatuser_delete(chatuser=chatuser, actor=operator)

    report = pull_bot(bot)

    assert report.get("chatusers", {}) == {}
    assert not ChatUser.objects.exists()
    push_pending(bot)
    assert remote_users(raw_ws) == []


def test_a_deletion_reads_the_userbot_id_a_push_confirmed_after_the_callers_copy(bot, operator, raw_ws):
    chatuser = services.chatuser_create(bot=bot, actor=operator, name="Stale copy")
    stale = ChatUser.objects.get(pk=chatuser.pk)  # read before the push confirmed it
    push_pending(bot)

    services.chatuser_delete(chatuser=stale, actor=operator)
    push_pending(bot)

    assert remote_users(raw_ws) == []
    assert not OutboxEntry.objects.exists()


def test_a_fault_in_a_kinds_push_code_puts_its_entries_back_with_the_error_not_in_flight(
    bot, operator, raw_ws, monkeypatch
):
    services.chatuser_create(bot=bot, actor=operator, name="Ada")
    services.chatuser_create(bot=bot, actor=operator, name="Grace")

    def broken(self: Any, client: Any, items: Any) -> None:
        raise KeyError("tags")

    monkeypatch.setattr(ChatUserKind, "push", broken)
    report = push_pending(bot)

    assert (report.sent, report.retrying, report.dead) == (0, 2, 0)
    entries = list(OutboxEntry.objects.values_list("state", "last_error"))
    assert entries == [("pending", "The push stopped on an error here: KeyError: 'tags'")] * 2
    assert remote_users(raw_ws) == []
    monkeypatch.undo()
    OutboxEntry.objects.update(next_attempt_at=None)
    assert push_pending(bot).sent == 2
    assert sorted(u["name"] for u in remote_users(raw_ws)) == ["Ada", "Grace"]
