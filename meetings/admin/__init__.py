"""The meetings' admin: the list across chat users and the pages an operator acts on."""

from meetings.admin.meetings import MeetingAdmin

__all__ = ["MeetingAdmin"]
