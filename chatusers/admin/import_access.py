"""Who may import chat users, and who may see how imports changed them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

IMPORT_PERMISSIONS = ("chatusers.add_chatuser", "chatusers.change_chatuser")


def can_import(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Importing creates and changes chat users, so it takes both permissions."""
    return bool(user.is_active and user.has_perms(IMPORT_PERMISSIONS))


def can_view_imports(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whoever may see chat users may see how imports changed them."""
    return bool(
        user.is_active
        and (
            can_import(user)
            or user.has_perm("chatusers.view_chatuser")
            or user.has_perm("chatusers.view_importjob")
        )
    )
