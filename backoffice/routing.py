"""WebSocket routes served by Channels (live chat and import progress join here)."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
