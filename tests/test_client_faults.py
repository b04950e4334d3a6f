"""The protocol client against small Userbot servers that misbehave on purpose.

Each fake logs in ``test-key`` on ``test-bot`` like Userbot, then answers the rest as the
test scripts it: garbage, binary frames, silence, drops, 429s.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.sync.server import ServerConnection, serve

from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import (
    Event,
    RawRequest,
    Request,
    Response,
    encode_error,
    encode_event,
    encode_response,
    parse_payload,
    read_operation,
)
from backoffice.userbot.errors import (
    ConnectFailed,
    ConnectionLost,
    Forbidden,
    PayloadInvalid,
    RateLimited,
    RequestTimeout,
    Unauthenticated,
)
from tests.userbot_api import call_many_retrying

APIKEY = "test-key"
SITEKEY = "test-bot"
SECRET_KEY = "k3y-that-must-never-show-9f2a"

# answer(connection, request, its number on the connection from 0, the connection's number from 1)
Answerer = Callable[[ServerConnection, RawRequest, int, int], None]


def echo(conn: ServerConnection, raw: RawRequest, index: int, connection_number: int) -> None:
    conn.send(encode_response(raw.operation, {"echo": parse_payload(raw), "index": index}))


class FakeUserbot:
    """A loopback WebSocket server that does the handshake and lets ``answer`` do the rest."""

    def __init__(self, answer: Answerer = echo, *, apikey: str = APIKEY) -> None:
        self.answer = answer
        self.apikey = apikey
        self.frames: list[list[str]] = []  # every frame received, per connection
        self._server = serve(self._serve, "127.0.0.1", 0, max_size=None, compression=None, ping_interval=None)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self.frames)

    def requests(self, connection_number: int) -> list[str]:
        """The frames of one connection after its handshake."""
        return [
            f for f in self.frames[connection_number - 1] if not f.startswith(("apiLogin", "sitekey", "who"))
        ]

    def stop(self) -> None:
        self._server.shutdown()

    def _serve(self, conn: ServerConnection) -> None:
        frames: list[str] = []
        self.frames.append(frames)
        number = len(self.frames)
        index = 0
        try:
            for frame in conn:
                assert isinstance(frame, str)
                frames.append(frame)
                raw = read_operation(frame)
                if raw.operation == "apiLogin":
                    if parse_payload(raw)["apikey"] == self.apikey:
                        conn.send(encode_response("apiLogin", {"user_id": "u1", "token_expires_at": "never"}))
                    else:
                        conn.send(encode_error("apiLogin", 401, "unauthenticated", "bad API key"))
                elif raw.operation == "sitekey":
                    if parse_payload(raw)["sitekey"] == SITEKEY:
                        conn.send(encode_response("sitekey", {"sitekey": SITEKEY, "bot_name": "Test bot"}))
                    else:
                        conn.send(encode_error("sitekey", 403, "forbidden", "not your bot"))
                elif raw.operation == "who":
                    who = {"id": "u1", "name": "Ada", "email": "ada@example.com", "role": "admin"}
                    conn.send(encode_response("who", who))
                elif raw.operation == "subscribe":
                    conn.send(encode_response("subscribe", {"subscribed": parse_payload(raw)["topic"]}))
                else:
                    self.answer(conn, raw, index, number)
                    index += 1
        except Exception:  # noqa: S110 - a fake that was told to drop or go silent ends here
            pass


@pytest.fixture
def fake_userbot() -> Iterator[Callable[..., FakeUserbot]]:
    started: list[FakeUserbot] = []

    def start(answer: Answerer = echo, **kwargs: Any) -> FakeUserbot:
        server = FakeUserbot(answer, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def drop(conn: ServerConnection) -> None:
    """Cut the TCP connection without a closing handshake, like a crashed server."""
    conn.socket.shutdown(socket.SHUT_RDWR)


def client_for(server: FakeUserbot, **options: Any) -> UserbotClient:
    options.setdefault("timeout", 5.0)
    options.setdefault("backoff_base", 0.01)
    options.setdefault("heartbeat", 0)
    return UserbotClient(server.url, options.pop("apikey", APIKEY), SITEKEY, **options)


def gets(count: int) -> list[Request]:
    return [api.chatusers_get(offset=i, limit=1) for i in range(count)]


# --- handshake -------------------------------------------------------------------------


def test_connect_logs_in_chooses_the_bot_and_asks_who(fake_userbot, caplog):
    server = fake_userbot()

    with client_for(server) as client:
        handshake = client.connect()

    assert handshake.user_id == "u1"
    assert handshake.token_expires_at == "never"
    assert handshake.bot_name == "Test bot"
    assert handshake.who == {"id": "u1", "name": "Ada", "email": "ada@example.com", "role": "admin"}
    assert server.frames == [[f"apiLogin {APIKEY}", f"sitekey undefined {SITEKEY}", "who"]]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []  # a clean close


def test_a_bad_key_is_unauthenticated_at_once_without_retrying(fake_userbot):
    server = fake_userbot()
    client = client_for(server, apikey="wrong-key", reconnect_attempts=5)

    with pytest.raises(Unauthenticated) as raised:
        client.connect()
    with pytest.raises(Unauthenticated):
        client.call(api.chatusers_get_bot_tags())

    assert raised.value.status == 401
    assert server.connections == 2  # one per call: no retry loop
    assert [frames[0] for frames in server.frames] == ["apiLogin wrong-key", "apiLogin wrong-key"]
    assert client.reconnects == 0
    client.close()


def test_a_sitekey_not_ours_is_forbidden(fake_userbot):
    server = fake_userbot()
    client = UserbotClient(server.url, APIKEY, "other-bot", heartbeat=0)

    with pytest.raises(Forbidden) as raised:
        client.connect()

    assert raised.value.status == 403
    assert server.connections == 1
    client.close()


def test_no_server_is_connect_failed(fake_userbot):
    server = fake_userbot()
    server.stop()
    client = client_for(server, reconnect_attempts=3)

    started = time.monotonic()
    with pytest.raises(ConnectFailed) as raised:
        client.call(api.chatusers_get_bot_tags())

    assert "after 3 attempts" in str(raised.value)
    assert raised.value.maybe_applied is False
    assert time.monotonic() - started < 2.0
    assert client.reconnects == 0


# --- malformed frames --------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_frame",
    [
        "PERSONAL-DATA not json",
        b"\x00PERSONAL-DATA",
        '{"event": "chat.message"}',
        '{"channel": "chatusers.get", "status": "200", "payload": "PERSONAL-DATA"}',
        '["PERSONAL-DATA"]',
    ],
    ids=["garbage", "binary", "event-without-payload", "status-not-int", "not-an-object"],
)
def test_a_malformed_frame_breaks_the_connection_and_is_logged_without_content(
    fake_userbot, caplog, bad_frame
):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number == 1 and index == 2:
            conn.send(bad_frame)
        else:
            echo(conn, raw, index, number)

    server = fake_userbot(answer)
    caplog.set_level(logging.DEBUG)
    with client_for(server) as client:
        outcomes = list(client.iter_many(gets(3)))
        after = client.call(api.chatusers_get(offset=7, limit=1))

    assert [o.payload["index"] for o in outcomes[:2]] == [0, 1]
    assert isinstance(outcomes[2], ConnectionLost) and outcomes[2].maybe_applied is True
    assert after["index"] == 0  # answered on a new connection
    assert client.reconnects == 1
    malformed = [r for r in caplog.records if r.getMessage().startswith("Malformed frame from Userbot")]
    assert len(malformed) == 1
    assert f"({len(bad_frame if isinstance(bad_frame, bytes) else bad_frame.encode())} bytes)" in (
        malformed[0].getMessage()
    )
    assert "PERSONAL-DATA" not in caplog.text


def test_an_answer_on_the_wrong_channel_breaks_the_connection(fake_userbot):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        conn.send(encode_response("chatusers.delete", {"deleted": 0}))

    server = fake_userbot(answer)
    with client_for(server) as client:
        with pytest.raises(ConnectionLost):
            client.call(api.chatusers_get())


# --- timeouts and drops -------------------------------------------------------------------


def test_a_timeout_closes_the_connection_and_splits_the_pipeline_exactly(fake_userbot):
    received = threading.Event()

    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number == 1 and index >= 2:
            if index == 6:
                received.set()
            return  # silence from the third request on
        echo(conn, raw, index, number)

    server = fake_userbot(answer)
    with client_for(server, max_in_flight=5) as client:
        started = time.monotonic()
        outcomes = list(client.iter_many(gets(10), timeout=0.3))
        elapsed = time.monotonic() - started

    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["Response"] * 2 + ["RequestTimeout"] + ["ConnectionLost"] * 4 + ["NotSent"] * 3
    assert [o.maybe_applied for o in outcomes[2:]] == [True] * 5 + [False] * 3
    assert received.is_set()
    assert server.requests(1) == [
        f"chatusers.get {orjson.dumps({'offset': i, 'limit': 1}).decode()}" for i in range(7)
    ]
    assert 0.3 <= elapsed < 3.0


def test_a_call_that_times_out_raises_request_timeout_and_the_next_call_reconnects(fake_userbot):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number > 1:
            echo(conn, raw, index, number)

    server = fake_userbot(answer)
    with client_for(server) as client:
        with pytest.raises(RequestTimeout) as raised:
            client.call(api.chatusers_get(), timeout=0.2)
        again = client.call(api.chatusers_get(limit=5))

    assert raised.value.maybe_applied is True
    assert again == {"echo": {"offset": 0, "limit": 5}, "index": 0}
    assert client.reconnects == 1
    assert server.connections == 2


def test_a_drop_mid_pipeline_splits_answered_lost_and_not_sent(fake_userbot):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number == 1 and index == 4:
            drop(conn)  # the client has sent 0..4 and waits for 2
        elif number > 1 or index < 2:
            echo(conn, raw, index, number)

    server = fake_userbot(answer)
    with client_for(server, max_in_flight=3) as client:
        outcomes = list(client.iter_many(gets(10)))

    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["Response"] * 2 + ["ConnectionLost"] * 3 + ["NotSent"] * 5
    assert [o.payload["index"] for o in outcomes[:2]] == [0, 1]
    assert len(server.requests(1)) == 5


def test_retrying_resends_not_sent_and_safe_lost_requests_only(fake_userbot):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number == 1 and index == 2:
            drop(conn)
        elif number > 1 or index < 1:
            echo(conn, raw, index, number)

    server = fake_userbot(answer)
    requests = [
        api.chatusers_get(limit=1),
        api.say(wspath="web", session_id="s1", message="hello"),
        api.chatusers_delete(ids=["c1"]),
        api.chatusers_get(limit=2),
        api.chatusers_get(limit=3),
    ]
    with client_for(server, max_in_flight=3) as client:
        outcomes = call_many_retrying(client, requests, attempts=3)

    assert isinstance(outcomes[0], Response) and outcomes[0].payload["index"] == 0
    assert isinstance(outcomes[1], ConnectionLost)  # say is never sent twice
    assert [o.payload["echo"] for o in outcomes[2:]] == [
        {"ids": ["c1"]},
        {"offset": 0, "limit": 2},
        {"offset": 0, "limit": 3},
    ]
    assert server.requests(2) == [
        'chatusers.delete {"ids":["c1"]}',
        'chatusers.get {"offset":0,"limit":2}',
        'chatusers.get {"offset":0,"limit":3}',
    ]
    assert sum(f.startswith("say.") for frames in server.frames for f in frames) == 1


def test_reconnect_does_a_fresh_handshake_and_restores_subscriptions(fake_userbot):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number == 1:
            drop(conn)
            return
        conn.send(encode_event("chatusers.changed", {"op": "created", "id": "c9", "updated_at": "t"}))
        echo(conn, raw, index, number)

    server = fake_userbot(answer)
    events: list[Event] = []
    with client_for(server) as client:
        client.subscribe("chatusers", events.append)
        with pytest.raises(ConnectionLost):
            client.call(api.chatusers_get_bot_tags())
        result = client.call(api.chatusers_get_bot_tags())

    assert result == {"echo": None, "index": 0}
    assert client.reconnects == 1
    assert server.frames[1] == [
        f"apiLogin {APIKEY}",
        f"sitekey undefined {SITEKEY}",
        "who",
        "subscribe chatusers",
        "chatusers.get-bot-tags",
    ]
    assert events == [Event("chatusers.changed", {"op": "created", "id": "c9", "updated_at": "t"})]


def test_reconnecting_gives_up_after_the_attempts_with_connect_failed(fake_userbot):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        drop(conn)

    server = fake_userbot(answer)
    with client_for(server, reconnect_attempts=2) as client:
        client.connect()
        with pytest.raises(ConnectionLost):
            client.call(api.chatusers_get_bot_tags())
        server.stop()
        with pytest.raises(ConnectFailed) as raised:
            client.call(api.chatusers_get_bot_tags())

    assert "after 2 attempts" in str(raised.value)
    assert client.reconnects == 0


def test_a_silent_connection_is_found_dead_by_the_heartbeat(fake_userbot):
    proxy = FreezingProxy(fake_userbot())
    try:
        with UserbotClient(proxy.url, APIKEY, SITEKEY, heartbeat=0.2, backoff_base=0.01) as client:
            client.connect()
            time.sleep(0.7)  # idle: pings keep it alive
            alive = client.call(api.chatusers_get_bot_tags())
            proxy.freeze()
            time.sleep(0.8)
            assert client.reconnects == 0
            after = client.call(api.chatusers_get_bot_tags())
    finally:
        proxy.close()

    assert alive["index"] == 0
    assert after["index"] == 0
    assert client.reconnects == 1
    assert proxy.connections == 2


class FreezingProxy:
    """A TCP relay whose existing connections can be frozen: bytes stop flowing both ways."""

    def __init__(self, server: FakeUserbot) -> None:
        self._upstream = ("127.0.0.1", server.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/"
        self._frozen: list[threading.Event] = []
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self._frozen)

    def freeze(self) -> None:
        for frozen in self._frozen:
            frozen.set()

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            downstream, _ = self._listener.accept()
            upstream = socket.create_connection(self._upstream)
            self._sockets += [downstream, upstream]
            frozen = threading.Event()
            self._frozen.append(frozen)
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, target, frozen), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, frozen: threading.Event) -> None:
        try:
            while data := source.recv(65536):
                if not frozen.is_set():
                    target.sendall(data)
        except OSError:
            pass  # closed by close()


# --- rate limits -------------------------------------------------------------------------


def rate_limit_first(times: int, retry_after: float) -> Answerer:
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if index < times:
            conn.send(encode_error(raw.operation, 429, "rate_limited", "slow down", retry_after=retry_after))
        else:
            echo(conn, raw, index, number)

    return answer


def test_a_429_is_waited_out_for_retry_after_and_sent_again(fake_userbot):
    server = fake_userbot(rate_limit_first(2, 0.3))
    with client_for(server) as client:
        started = time.monotonic()
        result = client.call(api.chatusers_delete(ids=["c1"]))
        elapsed = time.monotonic() - started

    assert result == {"echo": {"ids": ["c1"]}, "index": 2}
    assert server.requests(1) == ['chatusers.delete {"ids":["c1"]}'] * 3
    assert 0.6 <= elapsed < 2.0
    assert client.reconnects == 0


def test_rate_limited_is_raised_once_the_retries_are_spent(fake_userbot):
    server = fake_userbot(rate_limit_first(10, 0.05))
    with client_for(server, max_rate_limit_retries=2) as client:
        with pytest.raises(RateLimited) as raised:
            client.call(api.chatusers_get())

    assert raised.value.retry_after == 0.05
    assert len(server.requests(1)) == 3


def test_iter_many_sends_the_rate_limited_requests_again_in_their_order(fake_userbot):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if index in (1, 3):
            conn.send(encode_error(raw.operation, 429, "rate_limited", "slow down", retry_after=0.2))
        else:
            echo(conn, raw, index, number)

    server = fake_userbot(answer)
    with client_for(server) as client:
        started = time.monotonic()
        outcomes = list(client.iter_many(gets(5)))
        elapsed = time.monotonic() - started

    assert [o.payload["echo"]["offset"] for o in outcomes] == [0, 1, 2, 3, 4]
    assert [o.payload["index"] for o in outcomes] == [0, 5, 2, 6, 4]
    assert [orjson.loads(f.partition(" ")[2])["offset"] for f in server.requests(1)] == [0, 1, 2, 3, 4, 1, 3]
    assert 0.2 <= elapsed < 1.5


# --- threads and events -----------------------------------------------------------------


def test_threads_sharing_a_client_each_get_their_own_answers(fake_userbot):
    server = fake_userbot()
    failures: list[str] = []

    with client_for(server) as client:

        def work(thread_number: int) -> None:
            for i in range(50):
                offset = thread_number * 1000 + i
                if client.call(api.chatusers_get(offset=offset, limit=1))["echo"]["offset"] != offset:
                    failures.append(f"{thread_number}/{i}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    assert len(server.requests(1)) == 400


def test_a_failing_event_callback_is_logged_and_the_reader_goes_on(fake_userbot, caplog):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        conn.send(encode_event("chat.message", {"session_id": "s1", "message": {"id": "m1"}}))
        echo(conn, raw, index, number)

    def explode(event: Event) -> None:
        raise RuntimeError("callback bug")

    server = fake_userbot(answer)
    seen: list[str] = []
    with client_for(server) as client:
        client.subscribe("chat", explode)
        client.subscribe("chat", lambda event: seen.append(event.event))
        first = client.call(api.chatusers_get_bot_tags())
        second = client.call(api.chatusers_get_bot_tags())

    assert (first["index"], second["index"]) == (0, 1)
    assert seen == ["chat.message", "chat.message"]
    assert client.reconnects == 0
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "A Userbot chat.message event callback failed"
    ] * 2
    assert server.frames[0].count("subscribe chat") == 1


# --- validation and secrets ---------------------------------------------------------------


def test_validation_refuses_a_bad_payload_before_sending_anything(fake_userbot, monkeypatch):
    checked: list[tuple[str, Any]] = []

    def validate_request(operation: str, payload: Any) -> None:
        if operation == "chatusers.get" and payload.get("limit", 0) > 1000:
            raise PayloadInvalid("limit must be 1..1000", {"limit": "at most 1000"})

    def validate_response(operation: str, payload: Any) -> None:
        checked.append((operation, payload))

    schema = types.SimpleNamespace(validate_request=validate_request, validate_response=validate_response)
    monkeypatch.setattr("backoffice.userbot.client.schema", schema)
    server = fake_userbot()

    with client_for(server, validate=True) as client:
        with pytest.raises(PayloadInvalid) as raised:
            client.call(api.chatusers_get(limit=5000))
        result = client.call(api.chatusers_get(limit=5))

    assert raised.value.fields == {"limit": "at most 1000"}
    assert server.requests(1) == ['chatusers.get {"offset":0,"limit":5}']
    assert checked == [("chatusers.get", result)]


def test_every_request_is_checked_against_the_document_before_it_is_sent(fake_userbot):
    server = fake_userbot()

    with client_for(server) as client:  # default options: responses unchecked, requests checked
        with pytest.raises(PayloadInvalid) as raised:
            client.call(api.chatusers_create([{"name": "Ada", "phone": "0039 333 1234567"}]))
        client.call(api.chatusers_get(limit=5))

    assert raised.value.fields == {"0": "phone: does not match the E.164 phone pattern"}
    assert server.requests(1) == ['chatusers.get {"offset":0,"limit":5}']


def test_handshake_operations_cannot_be_sent_as_requests(fake_userbot):
    server = fake_userbot()
    with client_for(server) as client:
        with pytest.raises(PayloadInvalid):
            client.call("sitekey", {"sitekey": "other"})

    assert server.frames == []


def test_the_api_key_never_shows_in_logs_errors_or_repr(fake_userbot, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("websocket").setLevel(logging.DEBUG)

    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number == 1:
            conn.send("not json")
        elif number == 2:
            drop(conn)
        # and silence from the third connection on

    server = fake_userbot(answer, apikey=SECRET_KEY)
    errors: list[BaseException] = []
    client = client_for(server, apikey=SECRET_KEY, heartbeat=0.2)
    client.connect()
    for request in (api.chatusers_get_bot_tags(), api.chatusers_get_bot_tags()):
        try:
            client.call(request)
        except ConnectionLost as exc:
            errors.append(exc)
    try:
        client.call(api.chatusers_get_bot_tags(), timeout=0.1)
    except ConnectionLost as exc:
        errors.append(exc)
    texts = [repr(client), str(client)]
    client.close()
    refused = client_for(server, apikey=SECRET_KEY + "-old")
    with pytest.raises(Unauthenticated) as raised:
        refused.connect()
    errors.append(raised.value)
    texts.append(repr(refused))
    refused.close()

    assert [type(e).__name__ for e in errors] == [
        "ConnectionLost",
        "ConnectionLost",
        "RequestTimeout",
        "Unauthenticated",
    ]
    assert SECRET_KEY not in caplog.text
    for error in errors:
        assert SECRET_KEY not in str(error) and SECRET_KEY not in repr(error)
        texts.extend(_local_reprs(error))
    assert all(SECRET_KEY not in text for text in texts)


def _local_reprs(error: BaseException) -> list[str]:
    """The repr of every local variable in the client's own frames of a traceback."""
    reprs = []
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith("userbot/client.py"):
            reprs.extend(repr(value) for value in tb.tb_frame.f_locals.values())
        tb = tb.tb_next
    return reprs
