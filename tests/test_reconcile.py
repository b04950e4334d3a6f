"""The one reconcile decision, case by case: what an object becomes when Userbot's copy is met."""

from __future__ import annotations

import pytest

from backoffice.sync.merge import Conflict
from backoffice.sync.models import BotSync, SyncState
from backoffice.sync.reconcile import Decision, Here, Outcome, decide, decide_gone, decide_push

BASE = {"name": "Ada", "surname": "", "tags": ["vip"]}


def test_an_object_not_here_is_created_as_userbot_has_it():
    assert decide(None, BASE, prefer=None) == Decision(Outcome.CREATE, BASE)


def test_userbots_copy_as_last_synced_is_an_echo_whatever_waits_here():
    ours = {**BASE, "name": "Ada L."}

    assert decide(Here(BASE, pending=False), dict(BASE), prefer=None) == Decision(Outcome.SAME)
    assert decide(Here(BASE, pending=True, doc=ours), dict(BASE), prefer=None) == Decision(Outcome.SAME)


def test_a_change_on_userbot_with_nothing_waiting_here_is_taken():
    theirs = {**BASE, "surname": "Lovelace"}

    assert decide(Here(BASE, pending=False), theirs, prefer=None) == Decision(Outcome.TAKE, theirs)


def test_changes_to_different_fields_on_both_sides_merge():
    ours = {**BASE, "name": "Ada L.", "tags": ["vip", "new"]}
    theirs = {**BASE, "surname": "Lovelace", "tags": []}

    decision = decide(Here(BASE, pending=True, doc=ours), theirs, prefer=None)

    assert decision == Decision(Outcome.MERGE, {"name": "Ada L.", "surname": "Lovelace", "tags": ["new"]})
    assert decision.state is None


def test_the_same_field_changed_on_both_sides_is_a_conflict_for_an_operator():
    ours, theirs = {**BASE, "name": "Ada L."}, {**BASE, "name": "Augusta"}

    decision = decide(Here(BASE, pending=True, doc=ours), theirs, prefer=None)

    assert decision == Decision(Outcome.CONFLICT, ours, (Conflict("name", "Ada", "Ada L.", "Augusta"),))
    assert decision.state == SyncState.CONFLICT


@pytest.mark.parametrize(("prefer", "name"), [("local", "Ada L."), ("remote", "Augusta")])
def test_a_conflict_policy_settles_the_field_and_keeps_the_trace(prefer, name):
    ours, theirs = {**BASE, "name": "Ada L."}, {**BASE, "name": "Augusta"}

    decision = decide(Here(BASE, pending=True, doc=ours), theirs, prefer=prefer)

    assert decision.outcome is Outcome.MERGE
    assert decision.doc == {**BASE, "name": name}
    assert decision.conflicts == (Conflict("name", "Ada", "Ada L.", "Augusta"),)
    assert decision.state is None


def test_our_create_whose_answer_was_lost_keeps_what_changed_here_since():
    sent = {**BASE}
    ours_since = {**BASE, "surname": "Lovelace"}

    decision = decide(Here(None, pending=True, own_create=True, doc=ours_since), sent, prefer=None)

    assert decision == Decision(Outcome.MERGE, ours_since)


def test_an_object_adopted_without_a_snapshot_asks_about_every_field_that_differs():
    ours, theirs = {**BASE, "name": "Ada L."}, {**BASE, "name": "Augusta", "surname": "Byron"}

    decision = decide(Here(None, pending=True, doc=ours), theirs, prefer=None)

    assert decision.outcome is Outcome.CONFLICT
    assert decision.conflicts == (
        Conflict("name", None, "Ada L.", "Augusta"),
        Conflict("surname", None, "", "Byron"),
    )


def test_merging_without_the_document_here_is_refused():
    with pytest.raises(ValueError, match="needs its document"):
        decide(Here(BASE, pending=True), {**BASE, "name": "Augusta"}, prefer=None)


def test_a_push_sends_ours_when_userbot_still_holds_the_snapshot():
    ours = {**BASE, "name": "Ada L."}

    assert decide_push(snapshot=BASE, local=ours, remote=dict(BASE)) == Decision(Outcome.SEND, ours)


def test_a_push_carries_a_field_userbot_changed_meanwhile():
    ours, theirs = {**BASE, "name": "Ada L."}, {**BASE, "surname": "Lovelace"}

    decision = decide_push(snapshot=BASE, local=ours, remote=theirs)

    assert decision == Decision(Outcome.SEND, {**BASE, "name": "Ada L.", "surname": "Lovelace"})


def test_a_push_waits_when_userbot_changed_the_same_field():
    ours, theirs = {**BASE, "name": "Ada L."}, {**BASE, "name": "Augusta"}

    decision = decide_push(snapshot=BASE, local=ours, remote=theirs)

    assert decision == Decision(Outcome.HOLD, None, (Conflict("name", "Ada", "Ada L.", "Augusta"),))


@pytest.mark.parametrize(
    ("changed_here", "conflict_policy", "on_remote_delete", "outcome"),
    [
        (False, "manual", "delete", Outcome.DELETE),
        (False, "manual", "keep", Outcome.KEEP),
        (True, "manual", "delete", Outcome.ASK),
        (True, "local", "keep", Outcome.ASK),
        (True, "remote", "delete", Outcome.DELETE),
        (True, "remote", "keep", Outcome.KEEP),
    ],
)
def test_an_object_gone_from_userbot_follows_the_bots_policies(
    changed_here, conflict_policy, on_remote_delete, outcome
):
    bot_sync = BotSync(conflict_policy=conflict_policy, on_remote_delete=on_remote_delete)

    assert decide_gone(changed_here=changed_here, bot_sync=bot_sync) is outcome
