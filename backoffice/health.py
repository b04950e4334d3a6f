"""Health of the web tier and of the sync, as JSON for a load balancer and a monitor.

``/health/`` says a web process answers and reaches the database (one ``SELECT 1``):
anonymous, no session, cheap enough for a load balancer to ask every few seconds, and
exempt from the redirect to HTTPS so that it can ask over plain HTTP.

``/health/sync/`` gives each bot's sync figures: how many changes wait for Userbot, since
when the oldest has waited, dead letters, open conflicts and the last pull. It reveals
only counts and sitekeys, but those are the business's own: a monitor sends
``Authorization: Bearer <SYNC_HEALTH_TOKEN>``, or a staff member who may see the bots'
sync opens it logged in.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from backoffice.sync.selectors import bots_with_sync_health

SYNC_PERMISSION = "sync.view_botsync"


@never_cache
@require_GET
def liveness(request: HttpRequest) -> JsonResponse:
    """200 when this process answers and the database does; 503 when the database does not,
    so the load balancer sends pages elsewhere."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def sync_health(request: HttpRequest) -> JsonResponse:
    """Each bot's sync figures, for a monitor with the token or a staff member logged in."""
    if not _has_token(request):
        user = request.user
        if not (user.is_authenticated and user.is_staff):
            response = JsonResponse({"error": "a token or a staff login is needed"}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="sync health"'
            return response
        if not user.has_perm(SYNC_PERMISSION):
            return JsonResponse({"error": "your login may not see the sync"}, status=403)
    now = timezone.now()
    return JsonResponse(
        {"checked_at": _when(now), "bots": [_bot_figures(bot, now) for bot in bots_with_sync_health()]}
    )


def _has_token(request: HttpRequest) -> bool:
    expected = settings.SYNC_HEALTH_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and secrets.compare_digest(given.strip(), expected)


def _bot_figures(bot: Any, now: datetime) -> dict[str, Any]:
    return {
        "sitekey": bot.sitekey,
        "queue_depth": bot.queue_depth,
        "oldest_pending_at": _when(bot.oldest_pending_at),
        "oldest_pending_age_s": _age(bot.oldest_pending_at, now),
        "dead_letters": bot.dead_count,
        "open_conflicts": bot.open_conflicts,
        "last_pull_at": _when(bot.last_pull_at),
        "last_pull_age_s": _age(bot.last_pull_at, now),
        # Whether the last pull failed, not why: its message may quote Userbot's answers.
        "last_pull_failed": bool(bot.last_pull_error),
    }


def _when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _age(moment: datetime | None, now: datetime) -> int | None:
    return None if moment is None else max(0, int((now - moment).total_seconds()))
