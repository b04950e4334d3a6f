"""The chat user table's indexes serve the queries written for them."""

from __future__ import annotations

import pytest
from django.db import connection

from chatusers.selectors import segment_queryset
from tests.factories import BotFactory, ChatUserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the index is PostgreSQL's"),
]


def _plan(sql: str, params: tuple) -> str:
    with connection.cursor() as cursor:
        # A few rows: the planner would scan the table whatever the indexes. Without scans
        # it shows whether an index can serve the query at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_segments_channel_count_is_served_by_the_bot_channel_index() -> None:
    bot, other = BotFactory(), BotFactory()
    ChatUserFactory(bot=bot, channel="whatsapp")
    ChatUserFactory(bot=bot, channel="telegram")
    ChatUserFactory(bot=other, channel="whatsapp")
    segment = segment_queryset(
        bot=bot, match="all", filters=[{"field": "channel", "op": "eq", "value": "WhatsApp"}]
    )

    sql, params = segment.order_by().values("pk").query.sql_with_params()
    plan = _plan(f"SELECT COUNT(*) FROM ({sql}) matching", params)  # noqa: S608 (Django's own SQL)

    assert "chatuser_bot_channel_upper" in plan
    assert segment.count() == 1


def test_the_search_index_keeps_a_larger_statistics_sample() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attstattarget FROM pg_attribute a "
            "WHERE a.attrelid = 'chatuser_search_trgm'::regclass AND a.attnum = 1"
        )
        [(target,)] = cursor.fetchall()

    assert target == 300
