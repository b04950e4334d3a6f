"""Deployment settings: production passes Django's deploy checks, the embedded default stays on HTTP.

Each test runs the project in a process of its own with exactly the environment it names,
as a deployment or scripts/start would, since settings are read once at start.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The production environment as README's "Production" section documents it.
PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://backoffice:secret@db.internal:5432/backoffice",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "DJANGO_ALLOWED_HOSTS": "admin.example.com",
    "DJANGO_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}
HOST = "admin.example.com"


def environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """Only what a fresh machine has, plus ``variables``: nothing leaks in from the test run."""
    return {"PATH": os.environ["PATH"], "BACKOFFICE_DATA_DIR": str(tmp_path), **variables}


def manage(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def web_app(tmp_path: Path, **variables: str) -> Iterator[int]:
    """The ASGI app under Daphne on a free loopback port, with this environment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backoffice.asgi:application"],
        cwd=ROOT,
        env=environment(tmp_path, **variables),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the web app never listened"
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(port: int, path: str, **headers: str) -> tuple[int, Message]:
    """Status and headers of one GET to the loopback app, redirects not followed."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_the_documented_production_environment_passes_the_deploy_checks(tmp_path):
    checked = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == "System check identified no issues (0 silenced)."


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    variables = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}

    checked = manage(tmp_path, "check", **variables)

    assert checked.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_ENV is production" in checked.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_sends_plain_http_to_https_and_https_gets_hsts_and_secure_cookies(tmp_path):
    with web_app(tmp_path, **PRODUCTION) as port:
        plain_status, plain = get(port, "/admin/login/", Host=HOST)
        status, secure = get(port, "/admin/login/", Host=HOST, **{"X-Forwarded-Proto": "https"})

    assert (plain_status, plain["Location"]) == (301, f"https://{HOST}/admin/login/")
    assert status == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "; Secure" in secure["Set-Cookie"] and secure["Set-Cookie"].startswith("csrftoken=")


def test_the_embedded_default_serves_the_admin_login_over_plain_http(tmp_path):
    with web_app(tmp_path) as port:
        status, headers = get(port, "/admin/login/")

    assert status == 200
    assert headers["Strict-Transport-Security"] is None
    assert headers["Set-Cookie"].startswith("csrftoken=") and "Secure" not in headers["Set-Cookie"]
