"""The production web tier, started from the Procfile's web lines on the test database:
pages and WebSockets answer through it, and pages are served side by side."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from websockets.sync.client import connect

from benchmarks._servers import procfile_web_commands, server_environment, web_tier
from chatusers.import_models import ImportJob
from chatusers.imports.progress import progress_group
from chatusers.imports.selectors import import_progress
from tests.factories import BotFactory, ChatUserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
# Two of the 5 s blocking reads a consumer waits for its messages in: at the end of one,
# redis-py 8's default read timeout used to close the socket under it.
IDLE_S = 12.0


def _database_url(settings: Any) -> str:
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"] or "", safe="") + (
        f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    )
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def procfile_ports(settings: Any) -> Iterator[dict[str, int]]:
    """The Procfile's web process types, each on a free loopback port, with the test
    database, the test Redis and two page workers (to show two are enough to serve two
    pages at once)."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("the web tier's processes share PostgreSQL and Redis")
    env = server_environment(
        os.environ,
        DATABASE_URL=_database_url(settings),
        DJANGO_ENV="embedded",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        WEB_BIND="127.0.0.1",
        WEB_CONCURRENCY="2",
        LOG_LEVEL="WARNING",
    )
    with web_tier(procfile_web_commands(), env) as ports:
        yield ports


@pytest.fixture
def session() -> str:
    """The session cookie of a superuser, committed where the servers can read it."""
    user = get_user_model().objects.create_superuser("operator", "operator@example.com", "x")
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client.cookies["sessionid"].value


def _get(port: int, path: str, session: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if session:
        request.add_header("Cookie", f"sessionid={session}")
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - a loopback URL of the test's own
        return response.status, response.read().decode()


def test_the_procfile_serves_pages_and_keeps_websockets_live(
    procfile_ports: dict[str, int], session: str
) -> None:
    web = procfile_ports["web"]
    sockets = procfile_ports.get("ws", web)
    job = ImportJob.objects.create(
        bot=BotFactory(),
        created_by=get_user_model().objects.get(username="operator"),
        file="imports/people.csv",
        original_name="people.csv",
        status=ImportJob.Status.RUNNING,
        rows_total=10,
    )

    assert _get(web, "/health/") == (200, '{"status": "ok"}')
    status, page = _get(web, "/admin/", session)
    assert status == 200
    assert "operator" in page and "Chat users" in page

    url = f"ws://127.0.0.1:{sockets}/ws/chatusers/imports/{job.pk}/"
    headers = {"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{sockets}"}
    with connect(url, additional_headers=headers, open_timeout=30) as socket:
        assert json.loads(socket.recv(timeout=30)) == import_progress(job=job)
        time.sleep(IDLE_S)
        progress = {"status": "running", "rows_done": 5, "rows_total": 10}
        async_to_sync(get_channel_layer().group_send)(
            progress_group(job.pk), {"type": "import.progress", **progress}
        )
        assert json.loads(socket.recv(timeout=30)) == progress


def _socket_owner(local_port: int) -> int | None:
    """The process holding the TCP socket whose local port is ``local_port``, from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(f"socket:[{fields[9]}]")
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                return int(process.name)
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return None


def test_the_procfile_serves_two_pages_at_the_same_time_in_two_processes(
    procfile_ports: dict[str, int], session: str
) -> None:
    """Two requests of the chat user list are held in the database by a lock on its table:
    both reach it and wait there at once, each from a process of its own, so each could use
    a core. A single ASGI process gets as far as two threads of one process, which share
    one core through Python's interpreter lock."""
    ChatUserFactory.create_batch(3)
    answers: list[int] = []

    def open_the_list() -> None:
        answers.append(_get(procfile_ports["web"], "/admin/chatusers/chatuser/", session)[0])

    requests = [threading.Thread(target=open_the_list) for _ in range(2)]
    waiting: list[int] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE chatusers_chatuser IN ACCESS EXCLUSIVE MODE")
        for request in requests:
            request.start()
        deadline = time.monotonic() + 60
        while len(waiting) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            # Statistics views are read once per transaction unless told to read them again.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT a.client_port FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE c.relname = 'chatusers_chatuser' AND NOT l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            waiting = [port for (port,) in cursor.fetchall()]
        owners = {_socket_owner(port) for port in waiting}
    for request in requests:
        request.join(timeout=60)

    assert len(waiting) == 2
    assert None not in owners
    assert len(owners) == 2
    assert answers == [200, 200]
