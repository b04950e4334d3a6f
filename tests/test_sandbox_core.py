"""The sandbox server's session, check order, ordering, events, faults and persistence, over real frames."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from sandbox import server as server_module
from sandbox.registry import HANDLERS
from sandbox.runner import start_sandbox

ROOT = Path(__file__).resolve().parent.parent

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _users(ws) -> list[dict]:
    return ws.ok("chatusers.get", {"offset": 0, "limit": 1000})["chatusers"]


def _assert_silent(ws) -> None:
    """Nothing is waiting for ``ws``: the answer to a fresh request is the very next frame."""
    ws.send("who")
    assert ws.recv()["channel"] == "who"


def test_unreadable_frames_answer_unknown_channel_on_the_error_channel(raw_ws):
    for frame in ["", "nope", "chatusers.nope {}", "robinsv 1 get 2", b"who"]:
        response = raw_ws.call(frame)
        assert response["channel"] == "error"
        assert response["status"] == 400
        assert response["error"]["code"] == "unknown_channel"


def test_login_comes_before_the_bot_and_the_payload(open_ws):
    ws = open_ws(login=False)
    assert ws.call("chatusers.get {not json")["status"] == 401
    assert ws.call("who")["error"]["code"] == "unauthenticated"
    assert ws.call("subscribe chatusers")["status"] == 401
    assert ws.call("apiLogin test-key")["status"] == 200
    forbidden = ws.call("chatusers.get {not json")
    assert (forbidden["channel"], forbidden["status"], forbidden["error"]["code"]) == (
        "chatusers.get",
        403,
        "forbidden",
    )
    assert ws.call("subscribe chatusers")["status"] == 403
    assert ws.call("who")["status"] == 200


def test_a_bad_payload_is_400_invalid_naming_its_fields(raw_ws):
    not_json = raw_ws.call("chatusers.get {not json")
    assert (not_json["channel"], not_json["status"]) == ("chatusers.get", 400)
    assert not_json["error"]["code"] == "invalid"
    assert not_json["error"]["fields"]
    limit = raw_ws.request("chatusers.get", {"offset": 0, "limit": 1001})
    assert (limit["status"], limit["error"]["code"]) == (400, "invalid")
    assert "limit" in limit["error"]["fields"]
    assert raw_ws.request("chatusers.get-bot-tags", {"x": 1})["status"] == 400


def test_an_unknown_id_is_404_after_every_other_check(raw_ws):
    response = raw_ws.request("chatusers.get-vars", {"chatuser_id": "nobody"})
    assert (response["channel"], response["status"], response["error"]["code"]) == (
        "chatusers.get-vars",
        404,
        "not_found",
    )
    assert raw_ws.request("chatusers.get-vars", {"chatuser_id": 7})["status"] == 400


def test_a_frame_over_10_mib_is_413_on_its_channel_and_not_applied(raw_ws):
    # 3.6 million three-byte characters: under 10 Mi characters, over 10 MiB of UTF-8.
    big = [{"name": "€" * 3_600_000, "email": "big@example.com"}]
    response = raw_ws.call("chatusers.create " + orjson.dumps(big).decode())
    assert (response["channel"], response["status"], response["error"]["code"]) == (
        "chatusers.create",
        413,
        "too_large",
    )
    junk = raw_ws.call("x" * (10 * 1024 * 1024 + 1))
    assert (junk["channel"], junk["status"]) == ("error", 413)
    assert _users(raw_ws) == []


def test_a_refused_login_or_bot_leaves_the_session_as_it_was(raw_ws):
    assert raw_ws.call("apiLogin wrong-key")["status"] == 401
    assert raw_ws.call("sitekey undefined other-bot")["error"]["code"] == "forbidden"
    assert raw_ws.request("chatusers.get", {"offset": 0, "limit": 1})["status"] == 200


def test_a_later_login_clears_the_bot_and_keeps_subscriptions(open_ws):
    listener, writer = open_ws(), open_ws()
    assert listener.call("subscribe chatusers")["payload"] == {"subscribed": "chatusers"}
    assert listener.call("apiLogin test-key")["status"] == 200
    assert listener.request("chatusers.get", {"offset": 0, "limit": 1})["status"] == 403
    writer.ok("chatusers.create", [{"name": "Unseen"}])
    _assert_silent(listener)
    assert listener.call("sitekey undefined test-bot")["status"] == 200
    created = writer.ok("chatusers.create", [{"name": "Seen"}])["chatusers"][0]
    assert listener.recv() == {
        "event": "chatusers.changed",
        "payload": {"op": "created", "id": created["id"], "updated_at": created["updated_at"]},
    }


def test_login_answers_the_user_id_and_a_token_expiring_in_24_hours(open_ws):
    ws = open_ws(login=False)
    before = datetime.now(UTC)
    login = ws.call("apiLogin test-key")["payload"]
    assert set(login) == {"user_id", "token_expires_at"}
    assert ISO_MS.fullmatch(login["token_expires_at"])
    expires = datetime.fromisoformat(login["token_expires_at"])
    assert timedelta(hours=24) - timedelta(seconds=1) <= expires - before <= timedelta(hours=24, seconds=5)
    who = ws.call("who")["payload"]
    assert who == {
        "id": login["user_id"],
        "name": "Sandbox Operator 1",
        "email": "operator1@sandbox.test",
        "role": "admin",
    }
    assert ws.call("sitekey undefined test-bot")["payload"] == {"sitekey": "test-bot", "bot_name": "Test Bot"}


def test_subscribe_refuses_an_unknown_topic(raw_ws):
    response = raw_ws.call("subscribe everything")
    assert (response["status"], response["error"]["code"]) == (400, "invalid")
    assert "topic" in response["error"]["fields"]


def test_a_thousand_pipelined_mixed_requests_are_answered_once_each_in_order(raw_ws):
    expected: list[tuple[str, int]] = []
    frames: list[str] = []
    for i in range(1000):
        kind = i % 5
        if kind == 0:
            frames.append(f'chatusers.create [{{"client_ref":"r{i}","name":"N{i}"}}]')
            expected.append(("chatusers.create", 200))
        elif kind == 1:
            frames.append('chatusers.get {"offset":0,"limit":5}')
            expected.append(("chatusers.get", 200))
        elif kind == 2:
            frames.append("chatusers.get-bot-tags")
            expected.append(("chatusers.get-bot-tags", 200))
        elif kind == 3:
            frames.append('chatusers.get-vars {"chatuser_id":"missing"}')
            expected.append(("chatusers.get-vars", 404))
        else:
            frames.append("no-such-operation")
            expected.append(("error", 400))
    for frame in frames:
        raw_ws.send(frame)
    answers = [raw_ws.recv() for _ in frames]
    assert [(a["channel"], a["status"]) for a in answers] == expected
    totals = [a["payload"]["total"] for a in answers if a["channel"] == "chatusers.get"]
    assert totals == list(range(1, 201))
    _assert_silent(raw_ws)


def test_changes_reach_subscribers_of_that_bot_only(open_ws):
    with start_sandbox(sitekeys=("test-bot", "other-bot")) as handle:
        same, unsubscribed, author = (open_ws(url=handle.url) for _ in range(3))
        other = open_ws(url=handle.url, sitekey="other-bot")
        for ws in (same, other, author):
            assert ws.call("subscribe chatusers")["status"] == 200
        created = author.ok("chatusers.create", [{"name": "Ada"}, {"name": "Bob"}])["chatusers"]
        events = [
            {
                "event": "chatusers.changed",
                "payload": {"op": "created", "id": u["id"], "updated_at": u["updated_at"]},
            }
            for u in created
        ]
        assert [same.recv(), same.recv()] == events
        assert [author.recv(), author.recv()] == events
        _assert_silent(other)
        _assert_silent(unsubscribed)


def test_drop_every_applies_the_nth_request_then_drops_without_answering(open_ws):
    with start_sandbox(drop_every=3) as handle:
        ws = open_ws(url=handle.url)  # apiLogin and sitekey are not counted
        assert ws.request("chatusers.create", [{"name": "one"}])["status"] == 200
        assert ws.request("chatusers.get", {"offset": 0, "limit": 1})["status"] == 200
        ws.send('chatusers.create [{"name":"three"}]')
        ws.send('chatusers.create [{"name":"four"}]')
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd is None  # no close frame
        again = open_ws(url=handle.url)
        assert [u["name"] for u in _users(again)] == ["one", "three"]


def test_rate_limit_every_answers_429_and_applies_nothing(open_ws):
    with start_sandbox(rate_limit_every=2) as handle:
        ws = open_ws(url=handle.url)
        statuses = [ws.request("chatusers.create", [{"name": f"n{i}"}]) for i in range(4)]
        assert [s["status"] for s in statuses] == [200, 429, 200, 429]
        assert statuses[1]["error"] == {
            "code": "rate_limited",
            "message": "too many requests; retry later",
            "retry_after": 0.05,
        }
        assert ws.call("apiLogin test-key")["status"] == 200  # never limited
        assert ws.call("sitekey undefined test-bot")["status"] == 200
        assert [u["name"] for u in _users(ws)] == ["n0", "n2"]


def test_latency_delays_answers_in_order_while_requests_keep_applying(open_ws):
    with start_sandbox(latency_ms=100) as handle:
        ws = open_ws(url=handle.url)
        start = time.monotonic()
        for i in range(20):
            ws.send(f'chatusers.create [{{"name":"n{i}"}}]')
        ws.send('chatusers.get {"offset":0,"limit":100}')
        answers = [ws.recv() for _ in range(21)]
        elapsed = time.monotonic() - start
        assert [a["channel"] for a in answers] == ["chatusers.create"] * 20 + ["chatusers.get"]
        assert answers[-1]["payload"]["total"] == 20
        assert 0.1 <= elapsed < 1.0  # pipelined answers overlap their delays


def test_a_failing_handler_answers_500_and_the_connection_lives_on(raw_ws, monkeypatch):
    def failing(ctx, payload):
        raise RuntimeError("boom")

    monkeypatch.setitem(HANDLERS, "chatusers.get-bot-tags", failing)
    response = raw_ws.call("chatusers.get-bot-tags")
    assert (response["channel"], response["status"], response["error"]["code"]) == (
        "chatusers.get-bot-tags",
        500,
        "server_error",
    )
    assert "boom" not in response["error"]["message"]
    assert raw_ws.request("chatusers.get", {"offset": 0, "limit": 1})["status"] == 200


def test_state_survives_a_restart(tmp_path, open_ws):
    state = tmp_path / "state.json"
    with start_sandbox(state_path=state) as handle:
        ws = open_ws(url=handle.url)
        created = ws.ok("chatusers.create", [{"client_ref": "c1", "email": "A@x.io", "tags": ["vip"]}])
        segment = ws.ok("chatusers.create-segment", {"name": "All", "match": "all", "filters": []})
    assert state.exists()
    with start_sandbox(state_path=state) as handle:
        ws = open_ws(url=handle.url)
        assert _users(ws) == created["chatusers"]
        assert ws.ok("chatusers.get-bot-segments")["segments"] == [segment]
        again = ws.ok("chatusers.create", [{"client_ref": "c1", "name": "ignored"}])
        assert again == created
        duplicate = ws.request("chatusers.create", [{"email": "a@X.io"}])
        assert duplicate["status"] == 400
        fresh = ws.ok("chatusers.create", [{"name": "new"}])["chatusers"][0]
        assert fresh["id"] > created["chatusers"][0]["id"]
        assert fresh["updated_at"] >= created["chatusers"][0]["updated_at"]


def test_state_is_saved_while_running_once_something_changed(tmp_path, open_ws, monkeypatch):
    monkeypatch.setattr(server_module, "SAVE_EVERY_S", 0.05)
    state = tmp_path / "state.json"
    with start_sandbox(state_path=state) as handle:
        ws = open_ws(url=handle.url)
        time.sleep(0.2)
        assert not state.exists()  # reads alone change nothing
        (user,) = ws.ok("chatusers.create", [{"name": "Ada"}])["chatusers"]
        deadline = time.monotonic() + 5
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        saved = orjson.loads(state.read_bytes())
        assert [bot["chatusers"] for bot in saved["bots"]] == [{user["id"]: user}]
        assert "index" not in saved["bots"][0]


def test_the_command_serves_until_sigterm_and_saves_its_state(tmp_path, open_ws):
    state = tmp_path / "state.json"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        str(port),
        "--apikey",
        "k1",
        "--apikey",
        "k2",
        "--sitekey",
        "b1",
        "--sitekey",
        "b2",
        "--state",
        str(state),
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout.readline().strip() == f"Sandbox Userbot listening on ws://127.0.0.1:{port}/"
        ws = open_ws(url=f"ws://127.0.0.1:{port}/", apikey="k2", sitekey="b2")
        ws.ok("chatusers.create", [{"name": "Ada"}])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    saved = orjson.loads(state.read_bytes())
    assert [a["apikey"] for a in saved["accounts"]] == ["k1", "k2"]
    assert [(b["sitekey"], len(b["chatusers"])) for b in saved["bots"]] == [("b1", 0), ("b2", 1)]


def test_seed_demo_fills_only_bots_without_chat_users(open_ws):
    pytest.importorskip("sandbox.demo")
    with start_sandbox(seed_demo=True) as handle:
        ws = open_ws(url=handle.url)
        page = ws.ok("chatusers.get", {"offset": 0, "limit": 1})
        assert page["total"] > 0
        assert ws.ok("chatusers.create", [{"name": "Ada"}])["chatusers"][0]["name"] == "Ada"


def test_when_both_faults_fall_on_one_request_the_429_wins(open_ws):
    with start_sandbox(drop_every=2, rate_limit_every=2) as handle:
        ws = open_ws(url=handle.url)
        assert ws.request("chatusers.create", [{"name": "one"}])["status"] == 200
        assert ws.request("chatusers.create", [{"name": "two"}])["status"] == 429
        assert ws.request("chatusers.get", {"offset": 0, "limit": 5})["payload"]["total"] == 1
