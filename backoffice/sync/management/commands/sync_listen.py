"""Listen to every bot's change events and apply them as they come (the sync's fast path)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from backoffice.sync import tasks
from backoffice.sync.listener import Listener, Refresher


class Command(BaseCommand):
    help = (
        "Subscribe to the change events of every bot and refresh what they name, here and now; "
        "after a dropped socket, queue a pull, which brings back whatever was missed. Runs until stopped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        refresher = Refresher(tasks.refresh_events, tasks.pull_now)
        listener = Listener(refresher)

        def stop(signum: int, frame: object) -> None:
            listener.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("Listening to Userbot change events (Ctrl-C stops).")
        try:
            listener.run(on_gap=lambda bot_id: tasks.pull.delay(bot_id))
        finally:
            refresher.close()
