"""Writes of the admin's own: saving and deleting an operator's views."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from backoffice.admin_site.models import SavedView

MAX_VIEWS_PER_USER = 50


@transaction.atomic
def saved_view_save(
    *, user: AbstractBaseUser, name: str, model: str, query: str, columns: str = ""
) -> SavedView:
    """Save a list under ``name`` for ``user``; a view of the same name is replaced. At most
    ``MAX_VIEWS_PER_USER`` views each, so the sidebar stays a sidebar."""
    view = SavedView.objects.filter(user=user, name=name.strip()).first()
    if view is None:
        view = SavedView(user=user, name=name.strip())
        if SavedView.objects.filter(user=user).count() >= MAX_VIEWS_PER_USER:
            raise ValidationError(f"At most {MAX_VIEWS_PER_USER} saved views: delete one first.")
    view.model, view.query, view.columns = model, query.lstrip("?"), columns
    view.full_clean()
    view.save()
    return view


def saved_view_delete(*, view: SavedView) -> None:
    """Delete one of an operator's saved views."""
    view.delete()
