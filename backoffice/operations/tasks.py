"""The worker's side of long operations: thin, by id."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from backoffice.operations.files import operation_files_expire
from backoffice.operations.models import Operation
from backoffice.operations.run import operation_run, takeable

# A queued operation whose task no worker has taken for this long is queued again (its
# message may be lost; a duplicate finds the operation taken and leaves).
QUEUED_LOST_S = 600


@shared_task(name="operations.run", acks_late=True)
def run(operation_id: int) -> str:
    """Run one operation. Redelivered after a worker died, it does what is left."""
    return operation_run(operation_id=operation_id)


@shared_task(name="operations.cleanup")
def cleanup() -> int:
    """Delete the files of operations ended more than OPERATIONS_KEEP_FILES_H hours ago."""
    return operation_files_expire(older_than=timedelta(hours=settings.OPERATIONS_KEEP_FILES_H))


@shared_task(name="operations.sweep")
def sweep() -> int:
    """Queue again the operations whose worker died (running, without word for STALE_S)
    and those whose task never reached a worker (queued for QUEUED_LOST_S): the guarantee
    behind the task queued when an operation starts. Returns how many."""
    now = timezone.now()
    lost = Operation.objects.filter(
        Q(status=Operation.Status.QUEUED, created_at__lt=now - timedelta(seconds=QUEUED_LOST_S))
        | (Q(status=Operation.Status.RUNNING) & takeable(now))
    )
    ids = list(lost.values_list("pk", flat=True))
    for operation_id in ids:
        run.delay(operation_id)
    return len(ids)
