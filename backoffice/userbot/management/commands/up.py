"""Start the whole product on one machine: web app, worker, scheduler and sandbox Userbot."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.userbot.services import bot_save

DEMO_SITEKEY = "demo-bot"
STOP_GRACE_S = 10.0


def _kept_secret(name: str) -> str:
    """A random secret kept in the data directory so every start reuses it."""
    path = Path(settings.DATA_DIR) / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def _wait_for_port(name: str, host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"the {name} exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise CommandError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


class Command(BaseCommand):
    help = (
        "Migrate, create the admin login, start the sandbox Userbot with demo data and register "
        "its bot, then run the web app (ASGI), a Celery worker and beat until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8765)
        parser.add_argument("--no-sandbox", action="store_true", help="do not start the sandbox")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        password = self._ensure_admin()
        host, port = options["host"], options["port"]
        processes: list[tuple[str, subprocess.Popen[bytes]]] = []

        def start(name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
            process = subprocess.Popen([sys.executable, *argv], env=env)
            processes.append((name, process))
            return process

        try:
            if not options["no_sandbox"]:
                self._start_sandbox(start, options["sandbox_port"])
            web = start("web", ["-m", "daphne", "-b", host, "-p", str(port), "backoffice.asgi:application"])
            start(
                "worker",
                ["-m", "celery", "-A", "backoffice", "worker", "--loglevel", "INFO", "--concurrency", "2"],
            )
            schedule = settings.CELERY_BEAT_SCHEDULE_FILENAME
            start(
                "beat",
                ["-m", "celery", "-A", "backoffice", "beat", "--loglevel", "INFO", "--schedule", schedule],
            )
            # Userbot's chat user events, applied as they come: the sync's fast path.
            start("listener", [str(Path(settings.BASE_DIR) / "manage.py"), "sync_listen"])
            _wait_for_port("web app", host, port, web, timeout=60)
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nUserbot back office is up: http://{host}:{port}/admin/\n"
                    f"Login: admin / {password}\n"
                    "Ctrl-C stops everything.\n"
                )
            )
            self._supervise(processes)
        finally:
            self._stop(processes)

    def _ensure_admin(self) -> str:
        password = _kept_secret("admin-password")
        user_model = get_user_model()
        user = user_model.objects.filter(username="admin").first()
        if user is None:
            user_model.objects.create_superuser("admin", "admin@localhost", password)
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        return password

    def _start_sandbox(self, start: Callable[..., subprocess.Popen[bytes]], port: int) -> None:
        apikey = _kept_secret("sandbox-apikey")
        state = str(Path(settings.DATA_DIR) / "sandbox-state.json")
        # The sandbox is a program of its own (python -m sandbox), beside the product and not
        # imported by it. The key goes in the environment, which only its owner can read,
        # not on the command line, which every user of the machine sees in ps.
        process = start(
            "sandbox",
            ["-m", "sandbox", "--host", "127.0.0.1", "--port", str(port),
             "--sitekey", DEMO_SITEKEY, "--state", state, "--seed-demo"],
            env=os.environ | {"USERBOT_SANDBOX_APIKEYS": apikey},
        )  # fmt: skip
        _wait_for_port("sandbox", "127.0.0.1", port, process, timeout=60)
        bot_save(name="Demo bot", sitekey=DEMO_SITEKEY, server_url=f"ws://127.0.0.1:{port}/", apikey=apikey)

    def _supervise(self, processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        stop = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stop:
            for name, process in processes:
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with status {process.returncode}; stopping.")
                    return
            time.sleep(0.5)
        self.stdout.write("Stopping...")

    def _stop(self, processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        for name, process in processes:
            if process.poll() is None:
                # A worker's warm shutdown waits for its tasks, and a sync task whose
                # sandbox just stopped keeps reconnecting; a cold one ends its pool now
                # (the task's message and the relay's claims are given back, not lost).
                process.send_signal(signal.SIGQUIT if name == "worker" else signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for _, process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
