"""WebSocket routes served by Channels (live chat and import progress join here)."""

from django.urls import URLPattern

from chatusers.consumers import websocket_urlpatterns as chatuser_routes
from livechat.consumers import websocket_urlpatterns as chat_routes

websocket_urlpatterns: list[URLPattern] = [*chatuser_routes, *chat_routes]
