"""The address a request comes from, for login throttling and the sessions page.

Behind a proxy every request reaches the app from the proxy's address: throttling by it
would lock every operator out after one person's mistakes. ``DJANGO_CLIENT_IP_HEADER``
names the header in which the proxy gives the browser's address (``X-Forwarded-For``);
the last address in it is the one the proxy itself saw, the earlier ones are whatever the
client claimed, so only the last is believed.
"""

from __future__ import annotations

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    header = settings.CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get(header, "")
        candidate = forwarded.split(",")[-1].strip() if forwarded else ""
        if _is_ip(candidate):
            return candidate
    remote = request.META.get("REMOTE_ADDR", "")
    return remote if _is_ip(remote) else None


def client_user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


def _is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True
