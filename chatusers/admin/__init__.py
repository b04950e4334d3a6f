"""The chat user domain in the admin: chat users, segments, tags, variables and feedback."""

from chatusers.admin import catalogue, chatusers, imports, segments

__all__ = ["catalogue", "chatusers", "imports", "segments"]
