from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from backoffice.userbot.models import Bot


class BotForm(forms.ModelForm):
    apikey = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current key.",
    )

    class Meta:
        model = Bot
        fields = ["name", "sitekey", "server_url"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.instance.has_apikey and not cleaned.get("apikey"):
            self.add_error("apikey", "A new bot needs an API key.")
        return cleaned

    def save(self, commit: bool = True) -> Bot:
        if self.cleaned_data.get("apikey"):
            self.instance.set_apikey(self.cleaned_data["apikey"])
        return super().save(commit=commit)


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    form = BotForm
    list_display = ["name", "sitekey", "server_url", "updated_at"]
    search_fields = ["name", "sitekey"]
    readonly_fields = ["created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Bot | None = None) -> list[str]:
        fields = ["name", "sitekey", "server_url", "apikey"]
        return [*fields, "created_at", "updated_at"] if obj else fields
