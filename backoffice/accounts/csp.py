"""Content-Security-Policy violation reports: logged, bounded, never stored.

Browsers post a report for each violation to ``CSP_REPORT_PATH``. Anyone can post there,
so a report is read only up to ``REPORT_MAX_BYTES``, each address gets at most
``CSP_REPORTS_PER_MINUTE`` a minute (counted in the cache, which expires), the fields
logged are cut short, and nothing is written to the database.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from backoffice.accounts.client import client_ip

log = logging.getLogger(__name__)

REPORT_MAX_BYTES = 8192
FIELD_MAX_CHARS = 200
_FIELDS = (
    "document-uri",
    "violated-directive",
    "effective-directive",
    "blocked-uri",
    "source-file",
    "line-number",
)


def _within_rate(request: HttpRequest) -> bool:
    key = f"csp-report:{client_ip(request) or 'unknown'}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=120)
        count = 1
    return count <= settings.CSP_REPORTS_PER_MINUTE


@csrf_exempt
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    if not _within_rate(request):
        return HttpResponse(status=429)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        body = json.loads(request.read(REPORT_MAX_BYTES))
    except (ValueError, UnicodeDecodeError):
        return HttpResponse(status=400)
    report = body.get("csp-report") if isinstance(body, dict) else None
    if not isinstance(report, dict):
        return HttpResponse(status=400)
    fields = {name: str(report.get(name, ""))[:FIELD_MAX_CHARS] for name in _FIELDS}
    log.warning("CSP violation: %s", json.dumps(fields, sort_keys=True))
    return HttpResponse(status=204)
