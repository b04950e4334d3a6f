"""Process-wide settings for the processes that move data in bulk."""

from __future__ import annotations

import gc

# Young-generation threshold for bulk work. A page of 1,000 chat users decodes into about
# 20,000 containers; at CPython's default (700) every page sets off dozens of collections
# that each walk every page still held, which cost a third of pipelined read throughput
# (benchmarks/protocol.py). Older generations keep their defaults.
BULK_GC_THRESHOLD = 50_000


def tune_gc_for_bulk_work() -> None:
    """Collect young objects less often; for workers and benchmarks, not the web app."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(BULK_GC_THRESHOLD, older, oldest)
