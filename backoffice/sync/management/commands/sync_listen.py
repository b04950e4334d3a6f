"""Listen to every bot's change events and apply them as they come (the sync's fast path)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from backoffice.sync import tasks
from backoffice.sync.listener import Listener


class Command(BaseCommand):
    help = (
        "Subscribe to the change events of every bot and queue their refresh; after a dropped "
        "socket, queue a pull, which brings back whatever was missed. Runs until stopped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        listener = Listener(lambda bot_id, label, events: tasks.refresh.delay(bot_id, label, events))

        def stop(signum: int, frame: object) -> None:
            listener.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("Listening to Userbot change events (Ctrl-C stops).")
        listener.run(on_gap=lambda bot_id: tasks.pull.delay(bot_id))
