"""Long operations in tests: the one an admin response started, run as a worker runs it."""

from __future__ import annotations

import re
from typing import Any

from backoffice.operations.models import Operation
from backoffice.operations.run import operation_run

_PROGRESS = re.compile(r"/operations/operation/(\d+)/progress/$")


def started(response: Any) -> Operation:
    """The operation whose page ``response`` redirects to."""
    assert response.status_code == 302, response.status_code
    found = _PROGRESS.search(response["Location"])
    assert found, response["Location"]
    return Operation.objects.get(pk=int(found.group(1)))


def run_started(response: Any) -> Operation:
    """Run the operation ``response`` started, to its end, and return it as it ended."""
    operation = started(response)
    operation_run(operation_id=operation.pk)
    operation.refresh_from_db()
    return operation
