"""The security headers on every admin page, and CSP violation reports: logged, rate-limited,
bounded, never stored."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

REPORT = "/csp-report/"


def _csp(response: Any) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in response["Content-Security-Policy"].split(";"))
    }


def test_the_login_page_carries_the_security_headers(client: Client) -> None:
    response = client.get("/admin/login/")

    csp = _csp(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["style-src-attr"] == ["'unsafe-inline'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["report-uri"] == [REPORT]
    assert "'unsafe-inline'" not in csp["script-src"] + csp["style-src-elem"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions


def test_admin_pages_carry_the_same_headers(admin_client: Client) -> None:
    login = Client().get("/admin/login/")

    for path in ("/admin/", "/admin/chatusers/chatuser/", "/admin/account/sessions/"):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Security-Policy"] == login["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"


def test_the_allowed_style_block_is_the_one_djangos_changelist_writes(settings: Any) -> None:
    # The hash in the policy must follow Django's template, or lists without actions lose it.
    template = Path(django.__file__).parent / "contrib/admin/templates/admin/change_list.html"
    block = re.search(r"<style>(.*?)</style>", template.read_text(), re.S)
    assert block is not None
    digest = base64.b64encode(hashlib.sha256(block.group(1).encode()).digest()).decode()

    assert f"'sha256-{digest}'" in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src-elem"]


def _report(**fields: str) -> bytes:
    return json.dumps({"csp-report": {"document-uri": "http://testserver/admin/", **fields}}).encode()


@pytest.fixture(autouse=True)
def _fresh_rate_counts() -> None:
    cache.clear()


def test_a_violation_report_is_logged_and_nothing_is_stored(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), CaptureQueriesContext(connection) as queries:
        response = client.post(
            REPORT,
            _report(**{"violated-directive": "script-src", "blocked-uri": "inline"}),
            content_type="application/csp-report",
        )

    assert response.status_code == 204
    assert [r.getMessage() for r in caplog.records if r.name == "backoffice.accounts.csp"] == [
        'CSP violation: {"blocked-uri": "inline", "document-uri": "http://testserver/admin/", '
        '"effective-directive": "", "line-number": "", "source-file": "", "violated-directive": "script-src"}'
    ]
    assert not [
        q
        for q in queries.captured_queries
        if not q["sql"].upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))
    ]


def test_violation_reports_are_rate_limited_per_address(
    client: Client, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CSP_REPORTS_PER_MINUTE = 3

    with caplog.at_level(logging.WARNING):
        statuses = [
            client.post(REPORT, _report(), content_type="application/csp-report").status_code
            for _ in range(5)
        ]
        other = Client(REMOTE_ADDR="192.0.2.1").post(REPORT, _report(), content_type="application/csp-report")

    assert statuses == [204, 204, 204, 429, 429]
    assert other.status_code == 204
    assert sum(r.name == "backoffice.accounts.csp" for r in caplog.records) == 4


def test_a_large_report_is_refused_unread(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        response = client.post(
            REPORT, _report(**{"blocked-uri": "x" * 20_000}), content_type="application/csp-report"
        )

    assert response.status_code == 413
    assert not [r for r in caplog.records if r.name == "backoffice.accounts.csp"]


def test_long_fields_are_cut_short_in_the_log(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        client.post(REPORT, _report(**{"blocked-uri": "y" * 5000}), content_type="application/csp-report")

    (record,) = [r for r in caplog.records if r.name == "backoffice.accounts.csp"]
    assert '"blocked-uri": "' + "y" * 200 + '"' in record.getMessage()
    assert "y" * 201 not in record.getMessage()


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"other": 1}'])
def test_a_malformed_report_is_refused(client: Client, body: bytes) -> None:
    response = client.post(REPORT, body, content_type="application/csp-report")

    assert response.status_code == 400


def test_reports_are_only_posted(client: Client) -> None:
    assert client.get(REPORT).status_code == 405
