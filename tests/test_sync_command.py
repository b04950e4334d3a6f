"""``manage.py sync --wait`` as an operator's script runs it: it returns once nothing is left
that a push can send, and its exit status says whether all was sent, or what waits on a
person (conflicts, dead letters). Against the sandbox on loopback."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backoffice.sync.management.commands.sync import Command
from backoffice.sync.models import OutboxEntry
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from chatusers import services
from chatusers.models import ChatUser
from tests.conftest import RawWs

pytestmark = pytest.mark.django_db(transaction=True)


def run_sync(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command as ``manage.py`` does, from its command line: its exit status,
    standard output and standard error."""
    try:
        Command().run_from_argv(["manage.py", "sync", "--skip-checks", *args])
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def remote_names(ws: RawWs) -> dict[str, str]:
    users = ws.ok("chatusers.get", {"offset": 0, "limit": 1000})["chatusers"]
    return {u["client_ref"]: u["name"] for u in users}


def changed_on_both_sides(bot: Any, operator: Any, ws: RawWs, name: str) -> ChatUser:
    """A chat user in sync, then renamed on Userbot and here before either saw the other."""
    chatuser = services.chatuser_create(
        bot=bot, actor=operator, name=name, email=f"{name.lower()}@example.com"
    )
    push_pending(bot)
    chatuser.refresh_from_db()
    ws.ok("chatusers.import", {"filename": "x.csv", "csv": f"id,name\r\n{chatuser.remote_id},Theirs\r\n"})
    services.chatuser_update(chatuser=chatuser, actor=operator, name="Ours")
    return chatuser


def refused_by_userbot(bot: Any, operator: Any, ws: RawWs) -> ChatUser:
    """A new chat user whose create Userbot refuses for good: its email is taken there."""
    ws.ok("chatusers.create", [{"name": "Held", "email": "taken@example.com"}])
    return services.chatuser_create(bot=bot, actor=operator, name="Dup", email="taken@example.com")


def test_wait_sends_everything_and_exits_0(bot, operator, raw_ws, capsys):
    ada = services.chatuser_create(bot=bot, actor=operator, name="Ada")
    grace = services.chatuser_create(bot=bot, actor=operator, name="Grace")

    status, out, err = run_sync(capsys, "--bot", bot.sitekey, "--push", "--wait", "--timeout", "30")

    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "Push: pushed 2 (chatusers.chatuser 2); 0 to retry, 0 dead, 0 waiting on a conflict"
    ]
    assert remote_names(raw_ws) == {ada.client_ref: "Ada", grace.client_ref: "Grace"}
    assert not OutboxEntry.objects.exists()


def test_wait_returns_at_once_with_status_3_when_a_change_waits_on_a_conflict(bot, operator, raw_ws, capsys):
    ada = changed_on_both_sides(bot, operator, raw_ws, "Ada")
    grace = services.chatuser_create(bot=bot, actor=operator, name="Grace")
    started = time.monotonic()

    # The push sends Grace and finds Ada changed on Userbot too; the pull it runs then puts
    # Ada in conflict (the manual policy), and her change is left to an operator.
    status, out, err = run_sync(capsys, "--bot", bot.sitekey, "--push", "--wait", "--timeout", "30")

    assert time.monotonic() - started < 10
    assert status == 3
    assert out.count("Push: ") == 1  # one push: nothing was left for a second
    assert "Pull: chatusers: conflicts 1" in out
    assert out.splitlines()[-1] == "Not sent: 1 waiting on conflicts (the admin's sync conflicts)."
    assert err == "CommandError: Not everything was sent: 1 waiting on conflicts, 0 dead letters.\n"
    assert remote_names(raw_ws) == {ada.client_ref: "Theirs", grace.client_ref: "Grace"}
    ada.refresh_from_db()
    assert ada.sync_state == "conflict"
    assert list(OutboxEntry.objects.values_list("object_id", "state")) == [(ada.pk, "pending")]


def test_wait_returns_with_status_4_when_a_change_is_a_dead_letter(bot, operator, raw_ws, capsys):
    dup = refused_by_userbot(bot, operator, raw_ws)
    fine = services.chatuser_create(bot=bot, actor=operator, name="Fine")

    status, out, err = run_sync(capsys, "--bot", bot.sitekey, "--push", "--wait", "--timeout", "30")

    assert status == 4
    assert out.count("Push: ") == 1
    assert out.splitlines()[-1] == "Not sent: 1 in the dead-letter list (the admin's outbox entries)."
    assert err == "CommandError: Not everything was sent: 0 waiting on conflicts, 1 dead letters.\n"
    assert fine.client_ref in remote_names(raw_ws)
    assert dup.client_ref not in remote_names(raw_ws)
    assert list(OutboxEntry.objects.values_list("object_id", "state")) == [(dup.pk, "dead")]


def test_wait_returns_with_status_5_when_changes_wait_on_a_parked_conflict_and_in_dead_letters(
    bot, operator, raw_ws, capsys
):
    ada = changed_on_both_sides(bot, operator, raw_ws, "Ada")
    push_pending(bot)
    pull_bot(bot)
    OutboxEntry.objects.update(next_attempt_at=None)  # its backoff over
    push_pending(bot)  # parks Ada's change until an operator settles her conflict
    parked = OutboxEntry.objects.get(object_id=ada.pk)
    assert parked.next_attempt_at > timezone.now() + timedelta(days=365)
    refused_by_userbot(bot, operator, raw_ws)

    status, out, err = run_sync(capsys, "--bot", bot.sitekey, "--push", "--wait", "--timeout", "30")

    assert status == 5
    assert out.count("Push: ") == 1
    assert out.splitlines()[-2:] == [
        "Not sent: 1 waiting on conflicts (the admin's sync conflicts).",
        "Not sent: 1 in the dead-letter list (the admin's outbox entries).",
    ]
    assert err == "CommandError: Not everything was sent: 1 waiting on conflicts, 1 dead letters.\n"
    assert remote_names(raw_ws)[ada.client_ref] == "Theirs"


def test_wait_waits_for_a_change_another_relay_has_in_flight_and_times_out_with_status_1(
    bot, operator, raw_ws, capsys
):
    ada = services.chatuser_create(bot=bot, actor=operator, name="Ada")
    # Another relay holds the change under a live lease: no push here may take it, but it is
    # still on its way.
    OutboxEntry.objects.update(state="in_flight", claimed_by="another relay", claimed_at=timezone.now())

    status, out, err = run_sync(capsys, "--bot", bot.sitekey, "--push", "--wait", "--timeout", "0")

    assert status == 1
    assert out.splitlines() == ["Push: pushed 0 (nothing); 0 to retry, 0 dead, 0 waiting on a conflict"]
    assert err == "CommandError: 1 changes still to send after 0 s\n"
    assert ada.client_ref not in remote_names(raw_ws)


def test_without_wait_the_push_says_what_waits_and_exits_0(bot, operator, raw_ws, capsys):
    refused_by_userbot(bot, operator, raw_ws)

    status, out, err = run_sync(capsys, "--bot", bot.sitekey, "--push")

    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == "Not sent: 1 in the dead-letter list (the admin's outbox entries)."
