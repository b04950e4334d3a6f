"""A randomised test run many times, each with a seed of its own: the soak that says whether a
chaos test holds, and with which seed it did not.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python -m benchmarks.chaos --runs 50

Each run is one pytest process with ``CHAOS_SEED`` set (the tests' ``chaos_seed`` fixture
reads it), seeds ``--first-seed`` onwards, so a failure is replayed with its seed alone. By
default it runs the kill -9 test of the push; ``--test`` names another. The last line says
``runs=… failed=… seeds_failed=…``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

KILL_9 = (
    "tests/test_sync_faults.py::"
    "test_kill_9_at_random_moments_of_a_10000_change_push_ends_with_exactly_the_local_state"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--test", default=KILL_9)
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            raise SystemExit(f"{name} must name the PostgreSQL database and Redis the test uses")
    failed: list[int] = []
    started = time.monotonic()
    for seed in range(args.first_seed, args.first_seed + args.runs):
        began = time.monotonic()
        result = subprocess.run(  # the test runner of this interpreter, on a test path it is given
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", args.test],
            env={**os.environ, "CHAOS_SEED": str(seed)},
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.monotonic() - began
        verdict = "passed" if result.returncode == 0 else "FAILED"
        print(f"seed {seed}: {verdict} in {took:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(seed)
            print(result.stdout[-4000:], flush=True)
    print(f"{args.runs} runs in {time.monotonic() - started:.0f} s")
    print(f"runs={args.runs} failed={len(failed)} seeds_failed={','.join(map(str, failed)) or '-'}")


if __name__ == "__main__":
    main()
