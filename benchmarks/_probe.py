"""A plain WebSocket client beside the browser, noting when each token reaches it.

It watches the same live chat socket as the pages, with the same login, but nothing renders
what it gets: the time it takes is the servers' part of a message's delay, without the
browser's (whose socket time is when the page's script is handed the message, which waits
whenever the page is busy).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

from websockets.asyncio.client import connect


class Probe:
    """On a thread of its own, from ``with`` to its end: per token, when it came (ms since the epoch)."""

    def __init__(self, url: str, origin: str, session_key: str, pattern: str) -> None:
        self.url, self.origin, self.session_key = url, origin, session_key
        self.pattern = re.compile(pattern)
        self.arrived: dict[str, float] = {}
        self.opened = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._listen()), name="probe", daemon=True)

    async def _listen(self) -> None:
        headers = {"Cookie": f"sessionid={self.session_key}", "Origin": self.origin}
        async with connect(self.url, additional_headers=headers, open_timeout=30) as socket:
            self.opened.set()
            while not self.stopping.is_set():
                try:
                    frame = await asyncio.wait_for(socket.recv(), 0.5)
                except TimeoutError:
                    continue
                at = time.time() * 1000
                for token in self.pattern.findall(str(frame)):
                    self.arrived.setdefault(token, at)

    def __enter__(self) -> Probe:
        self.thread.start()
        if not self.opened.wait(30):
            raise RuntimeError("the probe's socket did not open")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
