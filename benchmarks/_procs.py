"""CPU time of processes on Linux, read from ``/proc``: a process and what it started."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_s(pid: int) -> float:
    """User and system CPU time of ``pid``, all its threads, in seconds (0 once it is gone)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # After the name: state is field 3 of stat(5), so utime (14) and stime (15) are 11 and 12 here.
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def descendants(pid: int) -> list[int]:
    """Every process started by ``pid``, directly or not, that is still running."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def find_process(root: int, word: str) -> int:
    """``root`` or the process it started whose command line holds ``word`` and is not a shell's
    (a shell may exec the command, or start it as a child)."""
    for pid in [root, *descendants(root)]:
        line = command_line(pid)
        if word in line and not line.startswith(("/bin/sh ", "sh ")):
            return pid
    raise RuntimeError(f"no process running {word!r} under {root}")
