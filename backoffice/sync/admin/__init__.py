"""The sync engine in the admin: each bot's sync page, the dead-letter list and the conflicts."""

from backoffice.sync.admin import bot_sync, conflicts, outbox

__all__ = ["bot_sync", "conflicts", "outbox"]
