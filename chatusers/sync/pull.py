"""Reading every chat user back from Userbot and applying what changed.

``chatusers.get`` has no "changed since", so a pull is a full scan, streamed page by page
(pipelined), checked and settled ``APPLY_BATCH`` chat users at a time by ``settle.Settler``
(a chat user as last synced costs nothing past one statement a batch); those that differ
are gathered across batches and settled together.

A scan that starts at the first page and reaches the end is complete: a chat user with a
Userbot id that it never met, and that ``chatusers.get-vars`` then answers 404 for, was
deleted on Userbot (paging by offset can skip one when Userbot deletes another meanwhile,
so absence alone is not proof). A scan that dies leaves a checkpoint; the next resumes
there, and leaves deletions to the next complete one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import Count, Sum

from backoffice.sync.kinds import PullContext, failure_of
from backoffice.sync.models import BotSync
from backoffice.sync.reading import ReadFailed, list_answer, read
from backoffice.sync.stage import Workers, collector_paused
from backoffice.userbot import api
from backoffice.userbot.schema import Rejected
from chatusers.models import ChatUser, ChatUserSync
from chatusers.sync.settle import OPERATION, Settler, key_of
from chatusers.sync.tags import TagBook
from chatusers.sync.writes import analyze_loaded

PAGE = 1000
APPLY_BATCH = 5000
# Chat users that differ are settled this many at a time, gathered across batches: settling
# costs a dozen statements whatever their number, and a re-pull where 1% changed would pay
# them for every batch of 50. Those gathered are settled once they came from SETTLE_SPAN
# batches too: what waits at the end of the scan is settled after the last page, with
# nothing left to read beside it (2,000 of them took a second there, a third of a re-pull
# of 200,000 where 1% changed).
SETTLE_BATCH = 2000
SETTLE_SPAN = 10
APPLIERS = 2  # batches applied at once on PostgreSQL: one per core of a small database host
PAGE_ATTEMPTS = 8


class Scan(Settler):
    """Every page of the bot's chat users, read and settled a batch at a time."""

    def __init__(self, ctx: PullContext, book: TagBook) -> None:
        super().__init__(ctx, book)
        self.total = 0  # Userbot's count of the bot's chat users, as the pages say

    # reading ---------------------------------------------------------------------------

    def run(self) -> None:
        with collector_paused():
            self._run()

    def _run(self) -> None:
        checkpoint = self.ctx.settings.pull_checkpoint or {}
        start = int(checkpoint.get("chatusers_offset", 0))
        # A first load into a bot with nothing here yet has nothing to look up: every
        # chat user is new (a repeat met twice while paging is skipped by the insert).
        self.first_load = start == 0 and not ChatUser.objects.filter(bot=self.bot).exists()
        # On PostgreSQL batches are applied by threads of their own while the next pages
        # are read: the database works in its own processes, the socket waits let go of
        # the interpreter. Batches may finish out of order; the checkpoint only moves
        # past a batch once every batch before it is in.
        appliers = Workers(APPLIERS, threaded=connection.vendor == "postgresql")
        batch: list[dict[str, Any]] = []
        self._sequence: dict[int, int] = {}  # batch number -> offset after it, until applied
        self._applied = 0
        self._waiting: dict[str, dict[str, Any]] = {}  # chat users to settle, gathered
        self._waiting_batches: list[int] = []  # the batches they came from
        try:
            number = 0
            for offset, users in self._pages(start):
                batch.extend(users)
                if len(batch) >= APPLY_BATCH:
                    number += 1
                    self._sequence[number] = offset + PAGE
                    appliers.submit(self._apply_and_checkpoint, *self.check(batch), number)
                    batch = []
                    if self.ctx.progress is not None:
                        # Between two batches: a cancel leaves the ones submitted to finish.
                        self.ctx.progress.at(offset + len(users), self.total)
            if batch:
                appliers.submit(self.apply_checked, *self.check(batch))
        finally:
            appliers.close()
        self._settle(self._waiting)
        self._batches_done(self._waiting_batches)
        if self.first_load:
            analyze_loaded()
        if start == 0:
            self._remove_missing()
        else:
            self.ctx.count("chatusers", "resumed_at", start)
        self._checkpoint(None)
        if self.ctx.progress is not None:
            self.ctx.progress.at(self.total, self.total, stoppable=False)  # all read

    def _apply_and_checkpoint(
        self, users: list[dict[str, Any]], refused: list[Rejected], number: int
    ) -> None:
        remote = self._sift(users, refused)
        with self._lock:
            self._waiting.update(remote)
            self._waiting_batches.append(number)
            if (
                not self.first_load
                and len(self._waiting) < SETTLE_BATCH
                and len(self._waiting_batches) < SETTLE_SPAN
            ):
                return  # settled with the next ones (the checkpoint stays before this batch)
            remote, numbers = self._waiting, self._waiting_batches
            self._waiting, self._waiting_batches = {}, []
        self._settle(remote)
        self._batches_done(numbers)

    def _batches_done(self, numbers: list[int]) -> None:
        with self._lock:
            for number in numbers:
                done = self._sequence.pop(number)
                self._sequence[number] = -done  # applied, waiting for the batches before it
            offset = None
            while self._sequence.get(self._applied + 1, 0) < 0:
                self._applied += 1
                offset = -self._sequence.pop(self._applied)
            if offset is not None:
                self._checkpoint(offset)

    def _pages(self, start: int) -> Iterator[tuple[int, list[Any]]]:
        """(offset, chat users) of every page from ``start``; a page that fails, or that is
        no page of chat users at all, is asked again, a few times."""
        client = self.ctx.client
        offset, failures = start, 0
        total = list_answer(OPERATION, read(client, api.chatusers_get(offset=0, limit=1)), "chatusers")[
            "total"
        ]
        self.total = total
        while offset <= total:
            # One page past the total read at the start catches chat users created meanwhile.
            offsets = range(offset, total + PAGE, PAGE)
            requests = (api.chatusers_get(offset=o, limit=PAGE) for o in offsets)
            for o, outcome in zip(offsets, client.iter_many(requests, window=16), strict=False):
                failure = failure_of(outcome)
                if failure is None:
                    try:
                        page = list_answer(OPERATION, outcome.payload, "chatusers")  # type: ignore[union-attr]
                    except ReadFailed as exc:
                        failure = exc.failure
                if failure is not None:
                    failures += 1
                    if not failure.transient or failures >= PAGE_ATTEMPTS:
                        raise RuntimeError(f"reading chat users at offset {o} failed: {failure.message}")
                    break
                failures = 0
                total = self.total = max(total, page["total"])
                offset = o + PAGE
                yield o, page["chatusers"]
                if len(page["chatusers"]) < PAGE:
                    return

    def _checkpoint(self, offset: int | None) -> None:
        checkpoint = {} if offset is None else {"chatusers_offset": offset}
        BotSync.objects.filter(bot=self.bot).update(pull_checkpoint=checkpoint)
        self.ctx.settings.pull_checkpoint = checkpoint
        self.ctx.renew_lease()

    # deletions -------------------------------------------------------------------------

    def _remove_missing(self) -> None:
        known = ChatUserSync.objects.filter(
            bot=self.bot, remote_id__isnull=False, synced_at__lt=self.started_at
        )
        there = known.aggregate(count=Count("pk"), keys=Sum("pk"))
        met = (self.met.count - self.resynced.count, self.met.keys - self.resynced.keys)
        all_met = (there["count"], there["keys"] or 0) == met
        if all_met and len(set(self.seen)) == len(self.seen):
            # Every record synced before the scan was met, once each (the count and the sum
            # of keys of those met agree with those there, and no chat user came twice): the
            # common case costs an aggregate, not a walk of the bot's every record.
            return
        seen = array("Q", sorted(self.seen))
        missing = []
        for pk, rid in known.values_list("pk", "remote_id").iterator(chunk_size=10_000):
            key = key_of(rid)
            i = bisect_left(seen, key)
            if i == len(seen) or seen[i] != key:
                missing.append((pk, rid))
        if not missing:
            return
        self.remove_gone(missing)
