"""gunicorn's settings for the Procfile's ``web`` process, read from the environment.

Each value is read with the project's typed helpers, so a typo stops the process at start
instead of running on a silent default; README "Configuration" lists them.
"""

from __future__ import annotations

import os

from backoffice.env import env_bool, env_int, env_str

bind = f"{env_str('WEB_BIND', '0.0.0.0')}:{env_int('PORT', 8000, minimum=1, maximum=65535)}"  # noqa: S104

# Sync workers: a worker process takes a request only when it is free, so a page never
# waits behind another while a worker is idle, and pages use every core. Two workers a core,
# and one more, keep the cores busy while some pages wait on PostgreSQL. Behind the proxy,
# which buffers slow clients (README, "Production").
worker_class = "sync"
workers = env_int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1, minimum=1)

# A worker busy on one request for longer than this is killed and replaced: the bound on a
# page stuck in a query or a loop. It must exceed the longest page that is not stuck, the
# CSV export of every chat user, which streams from the one request.
timeout = env_int("WEB_TIMEOUT_S", 300, minimum=1)
# On a restart or deploy, how long a worker may finish the pages it is serving.
graceful_timeout = env_int("WEB_GRACEFUL_TIMEOUT_S", 30, minimum=1)

# Worker recycling: a worker is replaced after this many requests (0: never), each at a
# count drawn up to the jitter beyond it so that they do not all restart at once. Bounds
# what a slow leak in a library can hold.
max_requests = env_int("WEB_MAX_REQUESTS", 5000, minimum=0)
max_requests_jitter = env_int("WEB_MAX_REQUESTS_JITTER", 500, minimum=0)

# The request line and headers: what gunicorn refuses before Django sees it (400). Bodies are
# bounded by the proxy (client_max_body_size) and by Django (DATA_UPLOAD_MAX_MEMORY_SIZE,
# CHATUSER_IMPORT_MAX_BYTES).
limit_request_line = env_int("WEB_LIMIT_REQUEST_LINE", 8190, minimum=256, maximum=8190)
limit_request_fields = env_int("WEB_LIMIT_REQUEST_FIELDS", 100, minimum=10, maximum=32768)
limit_request_field_size = env_int("WEB_LIMIT_REQUEST_FIELD_SIZE", 8190, minimum=256, maximum=8190)

# Logs go to the process's standard error, where the platform collects them.
errorlog = "-"
accesslog = "-" if env_bool("WEB_ACCESS_LOG", False) else None
