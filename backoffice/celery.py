"""The Celery application; tasks live in each app's ``tasks.py``."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from backoffice.runtime import tune_gc_for_bulk_work

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tune_worker_process(**_: Any) -> None:
    # Workers decode and write whole pages of chat users: see backoffice.runtime.
    tune_gc_for_bulk_work()
