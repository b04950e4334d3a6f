"""The sandbox's statistics, computed from the bot's data over inclusive date ranges."""

from __future__ import annotations

import pytest

from sandbox import stats
from sandbox.registry import Context, SandboxError
from sandbox.store import BotState, SandboxStore

NOW = 1_795_512_600_000  # 2026-11-24T09:30:00.000Z
RANGE = {"from": "2026-11-22", "to": "2026-11-23"}


def _session(sid: str, started_at: str, status: str = "closed", agent_id: str | None = None) -> dict:
    return {
        "id": sid,
        "wspath": f"ws{sid}",
        "chatuser_id": "u1",
        "channel": "webchat",
        "status": status,
        "agent_id": agent_id,
        "started_at": started_at,
        "last_message_at": started_at,
    }


def _message(mid: str, sender: str, at: str) -> dict:
    return {"id": mid, "from": sender, "text": "...", "at": at}


def _fill(bot: BotState) -> None:
    for uid, created in [
        ("u1", "2026-11-20T10:00:00.000Z"),
        ("u2", "2026-11-22T23:59:59.999Z"),
        ("u3", "2026-11-23T00:00:00.000Z"),
        ("u4", "2026-11-24T08:00:00.000Z"),
    ]:
        bot.chatusers[uid] = {"id": uid, "created_at": created}
    bot.sessions = {
        "s0": _session("s0", "2026-11-21T23:59:59.999Z", agent_id="agent-1"),
        "s1": _session("s1", "2026-11-22T10:00:00.000Z"),
        "s2": _session("s2", "2026-11-23T09:00:00.000Z", "agent", "agent-1"),
        "s3": _session("s3", "2026-11-23T12:00:00.000Z"),
        "s4": _session("s4", "2026-11-24T00:00:00.000Z", "bot"),
    }
    bot.messages = {
        "s0": [_message("m0", "user", "2026-11-21T23:59:59.999Z")],
        "s1": [
            _message("m1", "user", "2026-11-22T10:00:00.000Z"),
            _message("m2", "bot", "2026-11-22T10:00:01.000Z"),
            _message("m3", "user", "2026-11-23T00:00:01.000Z"),
        ],
        "s3": [_message("m4", "agent", "2026-11-23T12:00:00.000Z")],
        "s4": [_message("m5", "user", "2026-11-24T00:00:00.000Z")],
    }


def _context() -> Context:
    store = SandboxStore()
    account = store.add_account("key")
    bot = store.add_bot("shop")
    _fill(bot)
    return Context(store=store, account=account, bot=bot, now_ms=NOW)


def _feedback(bot: BotState, ratings: list[int], created_at: str = "2026-11-22T12:00:00.000Z") -> None:
    for rating in ratings:
        fid = f"f{len(bot.feedback)}"
        bot.feedback[fid] = {
            "id": fid,
            "chatuser_id": "u1",
            "session_id": "s1",
            "rating": rating,
            "comment": "",
            "created_at": created_at,
        }


def test_rawstats_all_gives_every_day_of_the_range_with_zeros():
    ctx = _context()

    answer = stats.all_stats(ctx, {"from": "2026-11-21", "to": "2026-11-25"})

    assert answer == {
        "days": [
            {"date": "2026-11-21", "sessions": 1, "messages": 1, "chatusers": 0, "handovers": 1},
            {"date": "2026-11-22", "sessions": 1, "messages": 2, "chatusers": 1, "handovers": 0},
            {"date": "2026-11-23", "sessions": 2, "messages": 2, "chatusers": 1, "handovers": 2},
            {"date": "2026-11-24", "sessions": 1, "messages": 1, "chatusers": 1, "handovers": 0},
            {"date": "2026-11-25", "sessions": 0, "messages": 0, "chatusers": 0, "handovers": 0},
        ]
    }


def test_one_day_ranges_are_inclusive():
    ctx = _context()

    answer = stats.all_stats(ctx, {"from": "2026-11-23", "to": "2026-11-23"})

    assert answer == {
        "days": [{"date": "2026-11-23", "sessions": 2, "messages": 2, "chatusers": 1, "handovers": 2}]
    }


def test_count_sessions_and_messages_in_the_range():
    ctx = _context()

    assert stats.count_sessions(ctx, RANGE) == {"total": 3}
    assert stats.count_messages(ctx, RANGE) == {"total": 4}
    assert stats.count_sessions(ctx, {"from": "2026-01-01", "to": "2026-01-31"}) == {"total": 0}


def test_count_nps_maps_5_to_positive_4_to_neutral_and_the_rest_to_negative():
    ctx = _context()
    _feedback(ctx.bot, [5, 5, 4, 3, 1, 2, 5])
    _feedback(ctx.bot, [1, 1], created_at="2026-11-24T00:00:00.000Z")

    answer = stats.count_nps(ctx, RANGE)

    assert answer == {"positive": 3, "neutral": 1, "negative": 3, "total": 7, "nps": 0}


@pytest.mark.parametrize(
    ("ratings", "nps"),
    [([], 0), ([5], 100), ([1, 2], -100), ([5] + [4] * 7, 13), ([1] + [4] * 7, -13), ([5, 5, 4], 67)],
)
def test_nps_is_percent_positive_minus_percent_negative_rounded_half_away_from_zero(ratings, nps):
    ctx = _context()
    _feedback(ctx.bot, ratings)

    assert stats.count_nps(ctx, RANGE)["nps"] == nps


def test_rawstats_get_adds_up_sales_in_the_range():
    ctx = _context()
    ctx.bot.sales_days = {
        "2026-11-21": {"orders": 100, "revenue": 1000.0, "visits": 100},
        "2026-11-22": {"orders": 10, "revenue": 500.5, "visits": 400},
        "2026-11-23": {"orders": 6, "revenue": 299.25, "visits": 200},
    }

    assert stats.sales(ctx, RANGE) == {
        "orders": 16,
        "revenue": 799.75,
        "currency": "EUR",
        "conversion_rate": 0.0267,
    }
    assert stats.sales(ctx, {"from": "2026-12-01", "to": "2026-12-02"}) == {
        "orders": 0,
        "revenue": 0,
        "currency": "EUR",
        "conversion_rate": 0.0,
    }


def test_bot_stats_reports_every_bot_without_a_chosen_bot():
    ctx = _context()
    other = ctx.store.add_bot("another-shop", "Another Shop")
    other.sessions["x"] = _session("x", "2026-11-22T08:00:00.000Z")
    ctx = Context(store=ctx.store, account=ctx.account, bot=None, now_ms=NOW)  # type: ignore[arg-type]

    answer = stats.bot_stats(ctx, RANGE)

    assert answer == {
        "bots": [
            {"sitekey": "another-shop", "name": "Another Shop", "sessions": 1, "messages": 0, "chatusers": 0},
            {"sitekey": "shop", "name": "Shop", "sessions": 3, "messages": 4, "chatusers": 2},
        ]
    }


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"from": "2026-11-24", "to": "2026-11-23"}, {"from": "after to", "to": "before from"}),
        ({"from": "2026-13-01", "to": "2026-11-23"}, {"from": "required, a date YYYY-MM-DD"}),
        ({"from": "2026-11-01"}, {"to": "required, a date YYYY-MM-DD"}),
        (
            {"from": "20261101", "to": "2026-11-23T00:00:00Z"},
            {
                "from": "required, a date YYYY-MM-DD",
                "to": "required, a date YYYY-MM-DD",
            },
        ),
        ([], {"payload": "must be an object"}),
    ],
)
def test_every_stats_operation_refuses_a_bad_range(payload, fields):
    ctx = _context()
    for operation in (
        stats.all_stats,
        stats.count_sessions,
        stats.count_messages,
        stats.count_nps,
        stats.sales,
        stats.bot_stats,
    ):
        with pytest.raises(SandboxError) as caught:
            operation(ctx, payload)
        assert (caught.value.status, caught.value.code, caught.value.fields) == (400, "invalid", fields)


def test_stats_over_the_wire(sandbox, raw_ws):
    _fill(sandbox.store.bots["test-bot"])

    days = raw_ws.ok("rawstats.all", RANGE)["days"]
    bots = raw_ws.ok("bot.stats", RANGE)
    backwards = raw_ws.request("rawstats.count-sessions", {"from": "2026-11-23", "to": "2026-11-22"})

    assert [day["sessions"] for day in days] == [1, 2]
    assert bots == {
        "bots": [{"sitekey": "test-bot", "name": "Test Bot", "sessions": 3, "messages": 4, "chatusers": 2}]
    }
    assert (backwards["channel"], backwards["status"], set(backwards["error"]["fields"])) == (
        "rawstats.count-sessions",
        400,
        {"from", "to"},
    )
