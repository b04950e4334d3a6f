"""The net promoter score, as Userbot counts it."""

from __future__ import annotations


def nps_of(*, positive: int, negative: int, total: int) -> int | None:
    """``100 * (positive - negative) / total`` rounded half away from zero, in whole numbers
    (no float on the way, so a score of exactly x.5 always rounds out); None without feedback."""
    if total <= 0:
        return None
    whole, rest = divmod(abs(100 * (positive - negative)), total)
    score = whole + (2 * rest >= total)
    return score if positive >= negative else -score
