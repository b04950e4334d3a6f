"""What the admin keeps of an operator's own: lists saved under a name."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """A list as an operator left it (its filters, search and order, and its columns),
    under a name, in their sidebar."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    model = models.CharField(max_length=100, help_text="app_label.model_name of the list")
    query = models.TextField(blank=True, help_text="The list's query string: filters, search, order")
    columns = models.CharField(
        max_length=500, blank=True, help_text="The columns chosen, if the list has a choice"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "saved view"
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="savedview_name_unique")]

    def __str__(self) -> str:
        return self.name
