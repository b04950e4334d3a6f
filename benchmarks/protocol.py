"""Protocol throughput against the sandbox Userbot server on loopback.

Prints, in one run: chatusers.create (1000 items a request) and chatusers.get (limit 1000)
in chat users per second, pipelined and one request at a time, and a raw WebSocket echo of
frames of the same size through the same two libraries (websockets serving,
websocket-client sending) as the ceiling. The sandbox runs in its own process, so client
and server each have a core, as in production.

    python -m benchmarks.protocol [--users 20000] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

import orjson
import websocket
from backoffice.userbot.client import UserbotClient
from websockets.asyncio.server import serve

from backoffice.userbot import api
from backoffice.userbot.codec import Response
from benchmarks._sandbox import free_port, sandbox_process

BATCH = 1000
APIKEY = "bench-key"
SITEKEY = "bench-bot"


def _people(start: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "client_ref": f"bench-{i}",
            "name": f"Name{i}",
            "surname": f"Surname{i}",
            "email": f"person{i}@example.com",
            "phone": f"+3933{i:08d}",
            "channel": "webchat",
            "language": "it",
            "tags": ["bench"],
            "variables": [{"name": "plan", "value": "pro"}],
        }
        for i in range(start, start + count)
    ]


def _check(outcomes: list[object]) -> None:
    for outcome in outcomes:
        if not isinstance(outcome, Response) or not outcome.ok:
            raise RuntimeError(f"a benchmark request failed: {outcome!r}")


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def bench_create(client: UserbotClient, users: int) -> tuple[float, float]:
    half = users // 2 // BATCH * BATCH
    serial_requests = [api.chatusers_create(_people(i, BATCH)) for i in range(0, half, BATCH)]
    started = time.perf_counter()
    for request in serial_requests:
        client.call(request.operation, request.payload)
    serial = _rate(half, time.perf_counter() - started)

    piped_requests = [api.chatusers_create(_people(half + i, BATCH)) for i in range(0, half, BATCH)]
    started = time.perf_counter()
    _check(client.call_many(piped_requests))
    pipelined = _rate(half, time.perf_counter() - started)
    return serial, pipelined


def bench_get(client: UserbotClient, users: int, rounds: int) -> tuple[float, float, int]:
    pages = [api.chatusers_get(offset=offset, limit=BATCH) for offset in range(0, users, BATCH)]
    sample = client.call(pages[0].operation, pages[0].payload)
    page_bytes = len(orjson.dumps({"channel": "chatusers.get", "status": 200, "payload": sample}))

    started = time.perf_counter()
    for _ in range(rounds):
        for request in pages:
            client.call(request.operation, request.payload)
    serial = _rate(rounds * users, time.perf_counter() - started)

    started = time.perf_counter()
    for _ in range(rounds):
        _check(client.call_many(pages))
    pipelined = _rate(rounds * users, time.perf_counter() - started)
    return serial, pipelined, page_bytes


def _echo_server(port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    async def echo(connection: object) -> None:
        async for frame in connection:  # type: ignore[attr-defined]
            await connection.send(frame)  # type: ignore[attr-defined]

    async def main() -> None:
        async with serve(echo, "127.0.0.1", port, max_size=None, compression=None):
            ready.set()
            await asyncio.Future()

    asyncio.run(main())


def bench_echo(frame_bytes: int, frames: int) -> tuple[float, float]:
    """Frames per second echoed, one at a time and pipelined."""
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_echo_server, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/")
        frame = "x" * frame_bytes
        started = time.perf_counter()
        for _ in range(frames):
            ws.send(frame)
            ws.recv()
        serial = _rate(frames, time.perf_counter() - started)
        started = time.perf_counter()
        window = 64
        sent = received = 0
        while received < frames:
            while sent < frames and sent - received < window:
                ws.send(frame)
                sent += 1
            ws.recv()
            received += 1
        pipelined = _rate(frames, time.perf_counter() - started)
        ws.close()
        return serial, pipelined
    finally:
        server.terminate()
        server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000, help="chat users to create, then read")
    parser.add_argument("--rounds", type=int, default=3, help="full reads of every page")
    parser.add_argument("--latency-ms", type=int, default=0, help="sandbox answer delay (network)")
    args = parser.parse_args()

    extra = ["--latency-ms", str(args.latency_ms)] if args.latency_ms else []
    with sandbox_process(apikey=APIKEY, sitekey=SITEKEY, extra=extra) as url:
        with UserbotClient(url, APIKEY, SITEKEY, timeout=300) as client:
            client.connect()
            create_serial, create_piped = bench_create(client, args.users)
            get_serial, get_piped, page_bytes = bench_get(client, args.users, args.rounds)
    create_frame = len(api.chatusers_create(_people(0, BATCH)).payload.__repr__())
    echo_serial, echo_piped = bench_echo(page_bytes, frames=200)

    print(f"sandbox latency: {args.latency_ms} ms; {args.users} chat users; pages of {BATCH}")
    print(f"{'measure':44} {'one at a time':>15} {'pipelined':>15} {'ratio':>7}")
    rows = [
        ("chatusers.create, chat users/s", create_serial, create_piped),
        ("chatusers.get limit 1000, chat users/s", get_serial, get_piped),
        (
            f"raw echo of {page_bytes // 1024} KiB frames, users/s equiv.",
            echo_serial * BATCH,
            echo_piped * BATCH,
        ),
    ]
    for label, serial, piped in rows:
        print(f"{label:44} {serial:15,.0f} {piped:15,.0f} {piped / serial:7.2f}")
    print(
        f"(a create request is about {create_frame // 1024} KiB; echo frames/s: "
        f"{echo_serial:,.0f} one at a time, {echo_piped:,.0f} pipelined)"
    )
    ratio = min(create_piped / create_serial, get_piped / get_serial)
    print(
        f"pipelined_vs_serial={ratio:.2f} chatusers_get_per_s={get_piped:.0f} "
        f"chatusers_create_per_s={create_piped:.0f} get_vs_echo={get_piped / (echo_piped * BATCH):.2f} "
        f"latency_ms={args.latency_ms}"
    )


if __name__ == "__main__":
    main()
