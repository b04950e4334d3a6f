"""ASGI entry point: Django over HTTP, Channels consumers over WebSocket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from backoffice.accounts.sockets import SecondFactorSocketMiddleware  # noqa: E402
from backoffice.routing import websocket_urlpatterns  # noqa: E402
from backoffice.runtime import freeze_started_process  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(SecondFactorSocketMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
freeze_started_process()
