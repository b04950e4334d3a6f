"""Protocol throughput against the sandbox Userbot server on loopback.

Prints, in one run: chatusers.create (1000 items a request) and chatusers.get (limit 1000)
in chat users per second, pipelined and one request at a time, and a raw WebSocket echo of
frames of the same size through the same two libraries (websockets serving,
websocket-client sending) as the ceiling. The sandbox runs in its own process, so client
and server each have a core, as in production.

    python -m benchmarks.protocol [--users 20000] [--rounds 10] [--network-ms 20]

It runs twice: on bare loopback, where a round trip costs microseconds and both sides are
bound by CPU (so pipelining has little to hide, as the raw echo shows), and with the
sandbox answering --network-ms later, standing for the network between a worker and
Userbot, which is what pipelining exists for. The ratio on the last line is the second.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import threading
import time
from collections.abc import Iterable

import orjson
import websocket
from websockets.asyncio.server import serve

from backoffice.runtime import tune_gc_for_bulk_work
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
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


def _check(outcomes: Iterable[object]) -> None:
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
    _check(client.iter_many(piped_requests))
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

    # Pipelined as a mirror reads: pages stream in and each is dropped once handled.
    started = time.perf_counter()
    for _ in range(rounds):
        _check(client.iter_many(pages))
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
        # The project's client skips websocket-client's pure-Python UTF-8 check too (orjson
        # checks what it parses), so the ceiling is measured the same way.
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/", skip_utf8_validation=True)
        frame = "x" * frame_bytes
        started = time.perf_counter()
        for _ in range(frames):
            ws.send(frame)
            ws.recv()
        serial = _rate(frames, time.perf_counter() - started)
        # Pipelined: one thread sends every frame while this one reads, as the client's
        # reader thread does; sending ahead without reading would fill both socket buffers.
        started = time.perf_counter()
        sender = threading.Thread(target=lambda: [ws.send(frame) for _ in range(frames)])
        sender.start()
        for _ in range(frames):
            ws.recv()
        sender.join()
        pipelined = _rate(frames, time.perf_counter() - started)
        ws.close()
        return serial, pipelined
    finally:
        server.terminate()
        server.join(10)


def measure(users: int, rounds: int, latency_ms: int) -> dict[str, float]:
    """Create then read ``users`` chat users through a fresh sandbox answering after ``latency_ms``."""
    extra = ["--latency-ms", str(latency_ms)] if latency_ms else []
    with sandbox_process(apikey=APIKEY, sitekey=SITEKEY, extra=extra) as url:
        with UserbotClient(url, APIKEY, SITEKEY, timeout=300) as client:
            client.connect()
            create_serial, create_piped = bench_create(client, users)
            get_serial, get_piped, page_bytes = bench_get(client, users, rounds)
    return {
        "create_serial": create_serial,
        "create_piped": create_piped,
        "get_serial": get_serial,
        "get_piped": get_piped,
        "page_bytes": page_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000, help="chat users to create, then read")
    parser.add_argument("--rounds", type=int, default=10, help="full reads of every page")
    parser.add_argument(
        "--network-ms",
        type=int,
        default=20,
        help="answer delay of the second sandbox, standing for a network round trip",
    )
    args = parser.parse_args()
    tune_gc_for_bulk_work()  # as in the Celery worker that does this work

    runs = {latency: measure(args.users, args.rounds, latency) for latency in (0, args.network_ms)}
    page_bytes = int(runs[0]["page_bytes"])
    echo_serial, echo_piped = bench_echo(page_bytes, frames=200)

    print(f"{args.users} chat users; pages and create requests of {BATCH}")
    print(f"{'measure':52} {'one at a time':>14} {'pipelined':>12} {'ratio':>6}")
    for latency, run in runs.items():
        where = "loopback" if latency == 0 else f"+{latency} ms network"
        for label, serial, piped in (
            (f"chatusers.create, users/s, {where}", run["create_serial"], run["create_piped"]),
            (f"chatusers.get limit 1000, users/s, {where}", run["get_serial"], run["get_piped"]),
        ):
            print(f"{label:52} {serial:14,.0f} {piped:12,.0f} {piped / serial:6.2f}")
    print(
        f"{'raw echo of ' + str(page_bytes // 1024) + ' KiB frames, users/s equivalent':52} "
        f"{echo_serial * BATCH:14,.0f} {echo_piped * BATCH:12,.0f} {echo_piped / echo_serial:6.2f}"
    )
    near, far = runs[0], runs[args.network_ms]
    print(
        f"pipelined_vs_serial={far['get_piped'] / far['get_serial']:.2f} "
        f"pipelined_vs_serial_loopback={near['get_piped'] / near['get_serial']:.2f} "
        f"create_pipelined_vs_serial={far['create_piped'] / far['create_serial']:.2f} "
        f"chatusers_get_per_s={near['get_piped']:.0f} "
        f"chatusers_create_per_s={near['create_piped']:.0f} "
        f"get_vs_echo={near['get_piped'] / (echo_piped * BATCH):.2f} network_ms={args.network_ms}"
    )


if __name__ == "__main__":
    main()
