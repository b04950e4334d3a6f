"""A chat user's page with its timeline, at a million chat users, on PostgreSQL.

Loads 1M chat users (``benchmarks.admin.load``) into a database named after the one in
``DATABASE_URL`` with ``_bench_timeline`` appended, and one history entry ("Added on
Userbot") for each of them, as a pull of them all would leave. Then gives one chat user
2,000 timeline entries of every kind (feedback, history entries, chat actions, sync
conflicts, imports; 400 each) and another 10, and times the change page with its first
timeline page through Django's test client as a superuser: the median of ``--runs`` after
a warm-up, and the page's query count for 10 and for 2,000 entries (the same: one query per
source and a fixed few). Meetings, if installed, count as a source but are given no rows.

    DATABASE_URL=postgres://user@127.0.0.1:5432/bo python -m benchmarks.timeline [--keep]

Findings, 2 shared cores, 7 December. Without an index on the admin's history by object the
page's median was 141 ms (load average 3.2): the chat user's entries were found by a parallel
scan of the million others (about 60 ms). With ``admin_log_object_time`` (admin_site
migration 0002) and ``chataction_chatuser`` (livechat 0002): 17 queries for 10 entries and
for 2,000, median 79 ms (runs 74 to 86 ms, load average 4.0 from other work). Import changes
by ``chatuser_id`` and resolved conflicts by object have no index of their own: free here,
where those tables hold the benchmark's rows alone, not as they grow.
Target: at most 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from benchmarks._db import bench_database, setup_django

EACH = 400  # entries of each of the five kinds: 2,000 in all


def _fill(chatuser, operator, each: int) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from backoffice.sync.models import SyncConflict
    from chatusers.import_models import ImportChange, ImportJob
    from chatusers.models import ChatUser, Feedback
    from livechat.models import ChatAction

    base = datetime(2026, 1, 1, tzinfo=UTC)
    at = [base + timedelta(minutes=n * 7) for n in range(each)]
    Feedback.objects.bulk_create(
        Feedback(bot=chatuser.bot, remote_id=f"f{chatuser.pk}-{n}", chatuser=chatuser, rating=n % 5 + 1,
                 comment=f"comment {n}", session_id=f"s{n}", created_at=at[n])
        for n in range(each)
    )  # fmt: skip
    ChatAction.objects.bulk_create(
        ChatAction(bot=chatuser.bot, session_id=f"s{n}", chatuser_remote_id=chatuser.remote_id,
                   kind=("take_over", "reply", "hand_back")[n % 3], text=f"reply {n}", operator=operator,
                   state="done")
        for n in range(each)
    )  # fmt: skip
    SyncConflict.objects.bulk_create(
        SyncConflict(bot=chatuser.bot, object_type="chatusers.chatuser", object_id=chatuser.pk,
                     object_repr=str(chatuser), field=f"field{n}", local_value="a", remote_value="b",
                     resolution="ours", resolved_by=operator)
        for n in range(each)
    )  # fmt: skip
    kind = ContentType.objects.get_for_model(ChatUser)
    LogEntry.objects.bulk_create(
        LogEntry(user=operator, content_type=kind, object_id=str(chatuser.pk), object_repr=str(chatuser),
                 action_flag=CHANGE, change_message=("Added tag vip", "Set variable city")[n % 2],
                 action_time=at[n])
        for n in range(each)
    )  # fmt: skip
    jobs = ImportJob.objects.bulk_create(
        ImportJob(bot=chatuser.bot, created_by=operator, file="imports/x.csv", original_name=f"batch{n}.csv",
                  status="done", finished_at=at[n])
        for n in range(each)
    )  # fmt: skip
    ImportChange.objects.bulk_create(
        ImportChange(job=job, chatuser_id=chatuser.pk, created=False) for job in jobs
    )


def _history_of_everyone(bot_id: int, operator_id: int) -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from chatusers.models import ChatUser

    kind = ContentType.objects.get_for_model(ChatUser)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_admin_log (action_time, user_id, content_type_id, object_id, object_repr,"
            " action_flag, change_message) SELECT created_at, %s, %s, id::text, name, 1, 'Added on Userbot'"
            " FROM chatusers_chatuser WHERE bot_id = %s",
            [operator_id, kind.pk, bot_id],
        )
        cursor.execute("VACUUM ANALYZE django_admin_log")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded bench database if present")
    args = parser.parse_args()

    setup_django(bench_database(os.environ.get("DATABASE_URL", ""), "_bench_timeline", fresh=not args.keep))
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from backoffice.userbot.models import Bot
    from benchmarks.admin import load
    from chatusers.models import ChatUser, ChatUserTag

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.filter(username="bench").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    if not ChatUser.objects.exists():
        bot = Bot(name="Bench", sitekey="bench-bot", server_url="ws://127.0.0.1:1/")
        bot.set_apikey("bench-key")
        bot.save()
        print(f"loaded {args.users} chat users in {load(args.users, bot.pk):.1f} s")
        started = time.perf_counter()
        _history_of_everyone(bot.pk, user.pk)
        print(f"one history entry each in {time.perf_counter() - started:.1f} s")
        few, many = ChatUser.objects.get(pk=1000), ChatUser.objects.get(pk=args.users // 2)
        _fill(few, user, 2)
        _fill(many, user, EACH)
    few, many = ChatUser.objects.get(pk=1000), ChatUser.objects.get(pk=args.users // 2)
    # The tag inline costs a query per tag the chat user carries: the same tags for both, so
    # the two counts differ by the timeline alone.
    ChatUserTag.objects.filter(chatuser__in=[few, many]).delete()
    client = Client()
    client.force_login(user)

    def page(chatuser: ChatUser) -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(f"/admin/chatusers/chatuser/{chatuser.pk}/change/")
            spent = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and b'id="timeline"' in response.content
        return spent, len(queries.captured_queries)

    page(few), page(many)  # warm-up
    queries_10 = page(few)[1]
    times, queries_2000 = [], 0
    for _ in range(args.runs):
        spent, queries_2000 = page(many)
        times.append(spent)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"queries with 10 entries: {queries_10}; with 2,000 entries: {queries_2000}")
    print(f"runs (ms): {' '.join(f'{t:.1f}' for t in times)}")
    print(f"timeline_ms_p50={statistics.median(times):.1f} timeline_queries={queries_2000}")


if __name__ == "__main__":
    main()
