"""The relay's claim: which outbox entries a worker takes, and that no two workers take one."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from backoffice.sync.claims import claim, release_stale, renew
from backoffice.sync.kinds import PushItem
from backoffice.sync.models import OutboxEntry
from backoffice.sync.outbox import mark_changed
from backoffice.sync.relay import PushReport, _complete, _give_back
from chatusers.models import ChatUser
from tests.factories import BotFactory, ChatUserFactory

pytestmark = pytest.mark.django_db
LABEL = "chatusers.chatuser"


def queue(bot: Any, *object_ids: int, **fields: Any) -> list[OutboxEntry]:
    return [OutboxEntry.objects.create(bot=bot, object_type=LABEL, object_id=i, **fields) for i in object_ids]


def test_a_claim_takes_the_bots_due_entries_oldest_first_up_to_its_limit():
    bot, other = BotFactory(), BotFactory()
    first, second, third = queue(bot, 1, 2, 3)
    queue(other, 4)
    queue(bot, 5, next_attempt_at=timezone.now() + timedelta(minutes=5))  # backing off
    queue(bot, 6, state=OutboxEntry.State.DEAD)

    taken = claim(bot, limit=2, worker="w1")

    assert [e.pk for e in taken] == [first.pk, second.pk]
    assert {e.state for e in taken} == {OutboxEntry.State.IN_FLIGHT}
    assert [e.pk for e in claim(bot, limit=10, worker="w2")] == [third.pk]
    assert claim(bot, limit=10, worker="w3") == []
    stored = OutboxEntry.objects.get(pk=first.pk)
    assert (stored.state, stored.claimed_by, stored.attempts) == ("in_flight", "w1", 1)
    assert stored.claimed_at == taken[0].claimed_at


def test_an_object_with_a_change_in_flight_waits_for_it_before_its_next_change_is_claimed():
    bot = BotFactory()
    [sent] = queue(bot, 7)
    assert [e.pk for e in claim(bot, limit=10, worker="w1")] == [sent.pk]
    [again] = queue(bot, 7)  # edited again while the first push is on the wire
    [other] = queue(bot, 8)

    assert [e.pk for e in claim(bot, limit=10, worker="w2")] == [other.pk]

    OutboxEntry.objects.filter(pk=sent.pk).delete()  # the first push is done
    assert [e.pk for e in claim(bot, limit=10, worker="w2")] == [again.pk]


def test_claimed_entries_read_what_the_claim_did_not_return_on_demand():
    bot = BotFactory()
    later = timezone.now() - timedelta(seconds=1)
    [entry] = queue(bot, 9, next_attempt_at=later)

    [taken] = claim(bot, limit=1, worker="w1")

    assert taken.next_attempt_at == later
    assert taken.created_at == entry.created_at


@pytest.mark.django_db(transaction=True)
def test_workers_claiming_at_once_never_take_the_same_entry():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent claims need a database that runs them at once")
    bot = BotFactory()
    OutboxEntry.objects.bulk_create(
        OutboxEntry(bot=bot, object_type=LABEL, object_id=n) for n in range(1, 2001)
    )
    taken: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def work(name: str) -> None:
        start.wait()
        mine: list[int] = []
        try:
            while batch := claim(bot, limit=50, worker=name):
                mine.extend(e.pk for e in batch)
        finally:
            connection.close()
        taken[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [pk for mine in taken.values() for pk in mine]
    assert len(every) == len(set(every)) == 2000
    assert not OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING).exists()


def test_a_claim_is_renewed_once_a_quarter_of_its_lease_has_gone(settings):
    settings.SYNC_CLAIM_LEASE_S = 60
    bot = BotFactory()
    queue(bot, 10, 11)
    taken = claim(bot, limit=10, worker="w1")
    claimed_at = taken[0].claimed_at

    renew(taken, "w1")  # just claimed: nothing to do
    assert set(OutboxEntry.objects.values_list("claimed_at", flat=True)) == {claimed_at}

    earlier = claimed_at - timedelta(seconds=20)
    OutboxEntry.objects.update(claimed_at=earlier)
    for entry in taken:
        entry.claimed_at = earlier
    renew(taken[:1], "someone else")  # not theirs: left alone
    assert set(OutboxEntry.objects.values_list("claimed_at", flat=True)) == {earlier}

    renew(taken, "w1")
    renewed = set(OutboxEntry.objects.values_list("claimed_at", flat=True))
    assert len(renewed) == 1 and renewed.pop() > claimed_at
    assert {e.claimed_at for e in taken} == {OutboxEntry.objects.first().claimed_at}


# --- a relay whose lease ran out ----------------------------------------------------------


def lease_runs_out(entries: list[OutboxEntry]) -> None:
    """Age the claim past its lease, as a relay paused for too long would find it."""
    OutboxEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
        claimed_at=timezone.now() - timedelta(hours=1)
    )
    for entry in entries:
        entry.claimed_at = timezone.now() - timedelta(hours=1)


def taken_over(bot: Any, users: list[Any]) -> tuple[list[OutboxEntry], list[OutboxEntry]]:
    """``w1`` claims the users' entries, its lease runs out, ``w2`` takes them over."""
    mark_changed(users)
    first = claim(bot, limit=10, worker="w1")
    lease_runs_out(first)
    assert release_stale() == len(users)
    second = claim(bot, limit=10, worker="w2")
    assert sorted(e.pk for e in second) == sorted(e.pk for e in first)
    return first, second


def held_by(worker: str) -> set[int]:
    return set(
        OutboxEntry.objects.filter(claimed_by=worker, state=OutboxEntry.State.IN_FLIGHT).values_list(
            "pk", flat=True
        )
    )


def test_a_relay_that_lost_its_claim_completes_nothing_and_records_nothing_on_the_objects():
    bot = BotFactory()
    users = ChatUserFactory.create_batch(3, bot=bot)
    first, second = taken_over(bot, users)
    items = [
        PushItem(entry=e, obj=u, local=None, snapshot={"name": "stale"}, remote_id=f"r{u.pk}")
        for e, u in zip(
            sorted(first, key=lambda e: e.object_id), sorted(users, key=lambda u: u.pk), strict=True
        )
    ]
    report = PushReport()

    _complete(ChatUser, items, report, LABEL, "w1")

    assert report.lost == 3 and report.sent == 0
    assert held_by("w2") == {e.pk for e in second}
    assert (
        list(ChatUser.objects.filter(pk__in=[u.pk for u in users]).values_list("sync__remote_id", flat=True))
        == [None] * 3
    )
    assert not ChatUser.objects.filter(
        pk__in=[u.pk for u in users], sync__synced_snapshot__isnull=False
    ).exists()


def test_a_relay_that_lost_part_of_its_claim_completes_only_what_it_still_holds():
    bot = BotFactory()
    lost_user, kept_user = ChatUserFactory.create_batch(2, bot=bot)
    mark_changed([lost_user, kept_user])
    entries = {e.object_id: e for e in claim(bot, limit=10, worker="w1")}
    lease_runs_out([entries[lost_user.pk]])
    release_stale()
    claim(bot, limit=10, worker="w2")
    items = [
        PushItem(entry=entries[u.pk], obj=u, local=None, snapshot={"name": u.name}, remote_id=f"r{u.pk}")
        for u in (lost_user, kept_user)
    ]
    report = PushReport()

    _complete(ChatUser, items, report, LABEL, "w1")

    assert (report.sent, report.lost) == (1, 1)
    assert held_by("w2") == {entries[lost_user.pk].pk}
    assert not OutboxEntry.objects.filter(pk=entries[kept_user.pk].pk).exists()
    assert ChatUser.objects.get(pk=kept_user.pk).remote_id == f"r{kept_user.pk}"
    assert ChatUser.objects.get(pk=lost_user.pk).remote_id is None


def test_a_relay_that_lost_its_claim_neither_gives_back_nor_dead_letters_the_new_holders_entries():
    bot = BotFactory()
    users = ChatUserFactory.create_batch(2, bot=bot)
    first, second = taken_over(bot, users)
    report = PushReport()
    failing = [
        PushItem(entry=e, obj=u, local=None, snapshot=None, remote_id=None)
        for e, u in zip(
            sorted(first, key=lambda e: e.object_id), sorted(users, key=lambda u: u.pk), strict=True
        )
    ]
    failing[0].fail("refused", transient=False)
    failing[1].fail("timed out", transient=True)

    _complete(ChatUser, failing, report, LABEL, "w1")
    given_back = _give_back(first, "dropped", "w1")

    assert (report.dead, report.retrying, report.lost, given_back) == (0, 0, 2, 0)
    assert held_by("w2") == {e.pk for e in second}
    assert not OutboxEntry.objects.filter(last_error__in=["refused", "timed out", "dropped"]).exists()


def test_a_renewal_keeps_only_the_entries_the_relay_still_holds(settings):
    settings.SYNC_CLAIM_LEASE_S = 60
    bot = BotFactory()
    users = ChatUserFactory.create_batch(2, bot=bot)
    mark_changed(users)
    entries = sorted(claim(bot, limit=10, worker="w1"), key=lambda e: e.pk)
    lease_runs_out(entries[:1])
    release_stale()
    claim(bot, limit=10, worker="w2")
    OutboxEntry.objects.filter(pk=entries[1].pk).update(claimed_at=timezone.now() - timedelta(seconds=20))
    entries[1].claimed_at = timezone.now() - timedelta(seconds=20)

    kept = renew(entries, "w1")

    assert [e.pk for e in kept] == [entries[1].pk]
    assert held_by("w2") == {entries[0].pk}
