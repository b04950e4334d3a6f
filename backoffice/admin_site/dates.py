"""Moments as the admin shows them: one format with the time zone (``2026-03-01 14:05 UTC``),
and, where recency matters, how long ago (``3 min ago``) with the exact moment as a tooltip.

Built with ``strftime`` and ``markup`` rather than templates: a changelist writes two of
these per row, five hundred rows a page, so each moment is converted to local time once.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.safestring import SafeString

from backoffice.admin_site.markup import markup

EXACT = "%Y-%m-%d %H:%M"


def exact(moment: datetime) -> str:
    """``2026-03-01 14:05 UTC``: the moment in the site's time zone, named."""
    return _exact(timezone.localtime(moment))


def _exact(local: datetime) -> str:
    return f"{local.strftime(EXACT)} {local.tzname()}"


def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "just now", "3 min ago", "5 h ago",
    "2 days ago"; a moment more than a month away reads as its date."""
    return _ago(moment, now, local=None)


def _ago(moment: datetime, now: datetime | None, *, local: datetime | None) -> str:
    seconds = ((now or timezone.now()) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        amount = f"{max(1, round(seconds / 60))} min"
    elif seconds < 86400:
        amount = f"{int(seconds // 3600)} h"
    elif seconds < 31 * 86400:
        days = int(seconds // 86400)
        amount = f"{days} day{'s' if days != 1 else ''}"
    else:
        return (local or timezone.localtime(moment)).strftime("%Y-%m-%d")
    return f"in {amount}" if future else f"{amount} ago"


def moment_html(
    moment: datetime | None, *, relative: bool = False, now: datetime | None = None
) -> SafeString | None:
    """A ``<time>`` element: the exact moment, or how long ago with the exact one as its
    tooltip (the page's script keeps "ago" current while it stays open)."""
    if moment is None:
        return None
    local = timezone.localtime(moment)
    if relative:
        return markup(
            '<time datetime="{}" title="{}" data-relative>{}</time>',
            moment.isoformat(),
            _exact(local),
            _ago(moment, now, local=local),
        )
    return markup('<time datetime="{}">{}</time>', moment.isoformat(), _exact(local))
