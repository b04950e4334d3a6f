"""The user that changes made on Userbot's side are recorded under in the history."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

SYNC_USERNAME = "userbot-sync"


def sync_actor() -> AbstractBaseUser:
    """The history's "Userbot" user: it cannot log in, it only signs what came from Userbot."""
    user, created = get_user_model().objects.get_or_create(
        username=SYNC_USERNAME, defaults={"first_name": "Userbot", "last_name": "(sync)", "is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
