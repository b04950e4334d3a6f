"""What checking Userbot's chat users costs a pull, per 1000 chat users.

Every chat user a pull reads is checked before a model sees it: the AsyncAPI schema
(compiled with fastjsonschema), then what a chat user here can hold (NUL characters, real
dates, an email ``EmailField`` takes, a variable set once) and the tags it names. The pages
timed are the ones the 1M mirror of ``benchmarks.sync`` reads: the sandbox's seed (names,
emails, phones, tags, variables), decoded from their frames. Beside the check, the same run
times decoding those frames (``orjson.loads``), which every pull pays already, and says
what the check adds to a 1M mirror. No database, no socket: the figures are the check's alone,
in CPU time of this process (the best of ``--repeat`` runs).

    python -m benchmarks.pull_checks [--chatusers 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

PAGE = 1000


def _pages(count: int) -> tuple[list[bytes], dict[str, str]]:
    """Answer frames of ``count`` seeded chat users, a page of 1000 each, and the tag names."""
    from sandbox.seed import seed_chatusers
    from sandbox.store import SandboxStore

    store = SandboxStore()
    bot = store.add_bot("bench-bot")
    ids = seed_chatusers(store, bot, count, seed=7)
    users = [bot.chatusers[cid] for cid in ids]
    frames = [
        orjson.dumps(
            {"channel": "chatusers.get", "status": 200, "payload": {"total": count, "chatusers": page}}
        )
        for page in (users[start : start + PAGE] for start in range(0, count, PAGE))
    ]
    return frames, {tid: tag["name"].lower() for tid, tag in bot.tags.items()}


def _best(run: Callable[[], Any], repeat: int) -> float:
    # The process's own CPU time: what the checks cost, whatever else the machine runs.
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chatusers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from backoffice.sync.untrusted import checked
    from backoffice.userbot.schema import check_envelope
    from chatusers.sync.documents import TIMES, chatuser_problems

    frames, tag_names = _pages(args.chatusers)
    pages = [orjson.loads(frame)["payload"] for frame in frames]

    def check() -> None:
        for page in pages:
            check_envelope("chatusers.get", page, "chatusers")
            found = checked(
                "chatusers.get", "chatusers", page["chatusers"], times=TIMES, more=chatuser_problems
            )
            # What ``Settler.check`` does past ``checked``: every tag a chat user names is known.
            for user in found.items:
                for tag_id in user["tags"]:
                    if tag_id not in tag_names:
                        raise SystemExit(f"the seed named an unknown tag {tag_id}")
            if found.rejected:
                raise SystemExit(f"the seed made chat users the checks refuse: {found.rejected[:3]}")

    def decode() -> None:
        for frame in frames:
            orjson.loads(frame)

    check()  # compiles the validators once, as the first page of a pull does
    per_1000_check = _best(check, args.repeat) / len(frames) * 1000
    per_1000_decode = _best(decode, args.repeat) / len(frames) * 1000
    print(f"{args.chatusers} chat users in {len(frames)} pages, best of {args.repeat}:")
    print(f"check: {per_1000_check:.2f} ms per 1000 chat users ({per_1000_check:.2f} us each)")
    print(f"decode (for scale): {per_1000_decode:.2f} ms per 1000 chat users")
    print(f"a 1M mirror: {per_1000_check:.2f} s of checks")
    print(f"check_ms_per_1000={per_1000_check:.2f} decode_ms_per_1000={per_1000_decode:.2f}")


if __name__ == "__main__":
    main()
