"""Celery tasks of the accounts app."""

from __future__ import annotations

from celery import shared_task

from backoffice.accounts.services import sessions_clear_expired


@shared_task(name="accounts.clear_expired_sessions")
def clear_expired_sessions() -> int:
    """Delete the rows of sessions past their expiry (run by Celery beat); a repeat is a no-op."""
    return sessions_clear_expired()
