"""WSGI entry point: the admin's pages, served by gunicorn's worker processes (Procfile
``web``). WebSockets are served by the ASGI app (``backoffice.asgi``, Procfile ``ws``)."""

import os

from django.core.wsgi import get_wsgi_application

from backoffice.runtime import freeze_started_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
application = get_wsgi_application()
freeze_started_process()
