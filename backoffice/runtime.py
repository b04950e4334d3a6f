"""Process-wide settings for the processes that move data in bulk."""

from __future__ import annotations

import gc

from django.urls import get_resolver

# Young-generation threshold for bulk work. A page of 1,000 chat users decodes into about
# 20,000 containers; at CPython's default (700) every page sets off dozens of collections
# that each walk every page still held, which cost a third of pipelined read throughput
# (benchmarks/protocol.py). Older generations keep their defaults.
BULK_GC_THRESHOLD = 50_000


def tune_gc_for_bulk_work() -> None:
    """Collect young objects less often; for workers and benchmarks, not the web app."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(BULK_GC_THRESHOLD, older, oldest)


def freeze_started_process() -> None:
    """Move what starting the process made (modules, models, the URLconf, the admin's
    registry) out of the collector's sight, for the processes that serve pages.

    A page makes a few thousand objects; every so often they set off a full collection,
    which walks every object the process holds, some 150,000 after start, for about 5 ms
    of the page that pays for it (``benchmarks/admin.py``). Frozen objects are never
    walked again; what pages make is collected as before.
    """
    get_resolver().url_patterns  # noqa: B018 - imports every view and admin, as the first page would
    gc.collect()
    gc.freeze()
