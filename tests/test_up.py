"""The README's first command: everything comes up on embedded defaults and Ctrl-C stops it."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _command_lines(group: int) -> dict[int, str]:
    """The command line of every process of a process group, as ps shows it to any user."""
    lines = {}
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) == group:
                lines[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue  # not a process, or gone meanwhile
    return lines


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_up_starts_every_part_on_embedded_defaults_and_stops_on_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"BACKOFFICE_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    web_port, sandbox_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(web_port), "--sandbox-port", str(sandbox_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Login: "):
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{web_port}/admin/" in output, output[-3000:]
        password = re.search(r"^Login: admin / (\S+)$", output, re.MULTILINE).group(1)
        assert password == (tmp_path / "admin-password").read_text().strip()

        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/admin/login/", timeout=10) as page:
            assert page.status == 200
            assert "<title>Log in | Userbot back office</title>" in page.read().decode()
        with socket.create_connection(("127.0.0.1", sandbox_port), timeout=5):
            pass
        apikey = (tmp_path / "sandbox-apikey").read_text().strip()
        command_lines = _command_lines(process.pid)
        assert any(" -m sandbox " in line for line in command_lines.values()), command_lines
        assert [line for line in command_lines.values() if apikey in line] == []

        check = subprocess.run(
            [sys.executable, "manage.py", "userbot_check", "--bot", "demo-bot"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr
        assert check.stdout.rstrip().endswith("; bot: Demo Bot"), check.stdout
        assert apikey not in check.stdout
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    # Every child went with it: nothing of the process group is left.
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
