"""The protocol client against a server that sends more than any answer may hold.

A frame's header declares its length before the payload comes, so the client refuses an
oversized frame from the header alone: a server that claims a gigabyte costs nothing, and
the connection it broke is replaced by the next call.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from websockets.sync.server import ServerConnection

from backoffice.userbot import api
from backoffice.userbot.codec import MAX_FRAME_BYTES, RawRequest, encode_response
from backoffice.userbot.connections import client_for as bot_client
from backoffice.userbot.errors import ConnectionLost, FrameTooLarge, ProtocolError
from backoffice.userbot.models import Bot
from tests.test_client_faults import APIKEY, SITEKEY, Answerer, FakeUserbot, client_for, echo, gets

GIB = 1 << 30
MIB = 1 << 20
STREAMED = 64 * MIB  # what the server really sends of the gigabyte it declares
OPCODE_TEXT, OPCODE_PING = 0x1, 0x9


@pytest.fixture
def hostile() -> Iterator[Callable[[Answerer], FakeUserbot]]:
    started: list[FakeUserbot] = []

    def start(answer: Answerer) -> FakeUserbot:
        started.append(FakeUserbot(answer))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def header(opcode: int, length: int) -> bytes:
    """A final, unmasked server frame's header declaring ``length`` bytes of payload."""
    return struct.pack("!BBQ", 0x80 | opcode, 127, length)


def on_first_connection(
    misbehave: Callable[[ServerConnection, RawRequest], None], *, at: int = 0
) -> Answerer:
    """Misbehave on request ``at`` of the first connection; echo everything else."""

    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        if number == 1 and index == at:
            misbehave(conn, raw)
        else:
            echo(conn, raw, index, number)

    return answer


def response_of_size(operation: str, size: int) -> str:
    """A 200 response to ``operation`` whose frame is exactly ``size`` bytes."""
    empty = encode_response(operation, {"blob": ""})
    return encode_response(operation, {"blob": "x" * (size - len(empty))})


@pytest.mark.parametrize("opcode", [OPCODE_TEXT, OPCODE_PING], ids=["text", "ping"])
def test_a_frame_declaring_a_gigabyte_is_refused_from_its_header_and_the_next_call_reconnects(
    hostile, opcode
):
    chunk = b"x" * MIB

    def claim_a_gigabyte(conn: ServerConnection, raw: RawRequest) -> None:
        conn.socket.sendall(header(opcode, GIB))
        try:
            for _ in range(STREAMED // MIB):  # a client that reads on gets this much, then silence
                conn.socket.sendall(chunk)
        except OSError:
            pass  # the client hung up after the header

    server = hostile(on_first_connection(claim_a_gigabyte, at=1))
    with client_for(server, timeout=3.0) as client:
        before = client.call(api.chatusers_get_bot_tags())  # connected, request checks loaded
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(FrameTooLarge) as raised:
                client.call(api.chatusers_get_bot_tags())
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        after = client.call(api.chatusers_get_bot_tags())

    assert elapsed < 1.0
    assert peak < 8 * MIB, f"reading the refused frame took {peak / MIB:.0f} MiB"
    assert isinstance(raised.value, ConnectionLost) and isinstance(raised.value, ProtocolError)
    assert raised.value.maybe_applied is True
    assert str(GIB) in str(raised.value)
    assert (before, after) == ({"echo": None, "index": 0}, {"echo": None, "index": 0})
    assert client.reconnects == 1
    assert server.connections == 2


def test_a_real_frame_of_11_mib_is_refused_and_the_next_call_reconnects(hostile):
    frame = response_of_size("chatusers.get", 11 * MIB)
    server = hostile(on_first_connection(lambda conn, raw: conn.send(frame)))

    with client_for(server) as client:
        with pytest.raises(FrameTooLarge) as raised:
            client.call(api.chatusers_get())
        after = client.call(api.chatusers_get(limit=5))

    assert str(raised.value) == (
        f"chatusers.get: a message of {11 * MIB} bytes from the server is over the limit of "
        f"{MAX_FRAME_BYTES} bytes; it may have been applied"
    )
    assert after == {"echo": {"offset": 0, "limit": 5}, "index": 0}
    assert client.reconnects == 1


def test_fragments_that_add_up_past_the_limit_are_refused_before_the_last_is_read(hostile):
    text = response_of_size("chatusers.get", 12 * MIB)
    fragments = [text[: 4 * MIB], text[4 * MIB : 8 * MIB], text[8 * MIB :]]
    server = hostile(on_first_connection(lambda conn, raw: conn.send(fragments)))

    with client_for(server) as client:
        with pytest.raises(FrameTooLarge) as raised:
            client.call(api.chatusers_get())
        after = client.call(api.chatusers_get(limit=5))

    assert f"a message of {12 * MIB} bytes" in str(raised.value)
    assert after["echo"] == {"offset": 0, "limit": 5}


def test_fragments_within_the_limit_make_one_answer(hostile):
    text = response_of_size("chatusers.get", 9 * MIB)
    fragments = [text[: 4 * MIB], text[4 * MIB : 8 * MIB], text[8 * MIB :]]
    server = hostile(on_first_connection(lambda conn, raw: conn.send(fragments)))

    with client_for(server) as client:
        first = client.call(api.chatusers_get())
        second = client.call(api.chatusers_get(limit=5))

    assert len(first["blob"]) == len(first["blob"].encode()) > 8 * MIB
    assert second == {"echo": {"offset": 0, "limit": 5}, "index": 1}
    assert client.reconnects == 0


def test_the_limit_takes_a_frame_of_its_size_and_refuses_one_byte_more(hostile):
    def answer(conn: ServerConnection, raw: RawRequest, index: int, number: int) -> None:
        conn.send(response_of_size(raw.operation, 4096 + index))

    server = hostile(answer)

    with client_for(server, max_frame_bytes=4096) as client:
        outcomes = list(client.iter_many(gets(3)))

    assert [type(o).__name__ for o in outcomes[:2]] == ["Response", "FrameTooLarge"]
    # The third was sent before the connection dropped, or was still waiting to go: either is
    # what the client must say of it, and which one depends on the order the threads ran in.
    assert type(outcomes[2]).__name__ in {"ConnectionLost", "NotSent"}
    assert len(outcomes[0].payload["blob"]) == 4096 - len(encode_response("chatusers.get", {"blob": ""}))
    assert "a message of 4097 bytes from the server is over the limit of 4096 bytes" in str(outcomes[1])


@pytest.mark.django_db
def test_the_bots_clients_take_their_limit_from_settings(hostile, settings):
    settings.USERBOT_MAX_FRAME_BYTES = 2048
    server = hostile(lambda conn, raw, index, number: conn.send(response_of_size(raw.operation, 3000)))
    bot = Bot(name="Test bot", sitekey=SITEKEY, server_url=server.url)
    bot.set_apikey(APIKEY)
    bot.save()

    with bot_client(bot, heartbeat=0) as client:
        with pytest.raises(FrameTooLarge) as raised:
            client.call(api.chatusers_get())

    assert "over the limit of 2048 bytes" in str(raised.value)
