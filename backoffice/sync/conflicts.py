"""Recording conflicts: the fields both sides changed differently since the last sync."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from backoffice.sync.merge import Conflict
from backoffice.sync.models import BotSync, SyncConflict

# How a policy settles a conflict as it is found; manual leaves it open for an operator.
RESOLUTION_BY_POLICY = {
    BotSync.ConflictPolicy.REMOTE: SyncConflict.Resolution.AUTO_REMOTE,
    BotSync.ConflictPolicy.LOCAL: SyncConflict.Resolution.AUTO_LOCAL,
    BotSync.ConflictPolicy.MANUAL: SyncConflict.Resolution.OPEN,
}


def prefer_for(policy: str) -> str | None:
    """The side ``merge.three_way`` should prefer under a bot's policy (None: ask)."""
    return {BotSync.ConflictPolicy.REMOTE: "remote", BotSync.ConflictPolicy.LOCAL: "local"}.get(policy)


def record_conflicts(
    *, bot_id: int, object_type: str, found: Sequence[tuple[int, str, Sequence[Conflict]]], policy: str
) -> int:
    """Keep a row per conflicting field of each object: (pk, object repr, conflicts).

    Under the manual policy an open conflict of the same field is brought up to date
    rather than repeated; under the others each is stored already resolved, as the trace
    of which value won.
    """
    resolution = RESOLUTION_BY_POLICY[policy]
    now = timezone.now()
    rows = []
    for pk, label, conflicts in found:
        for conflict in conflicts:
            rows.append(
                SyncConflict(
                    bot_id=bot_id,
                    object_type=object_type,
                    object_id=pk,
                    object_repr=label[:200],
                    field=conflict.key,
                    base_value=conflict.base,
                    local_value=conflict.local,
                    remote_value=conflict.remote,
                    resolution=resolution,
                    resolved_at=None if resolution == SyncConflict.Resolution.OPEN else now,
                )
            )
    if not rows:
        return 0
    if resolution == SyncConflict.Resolution.OPEN:
        SyncConflict.objects.filter(
            object_type=object_type,
            object_id__in={r.object_id for r in rows},
            resolution=SyncConflict.Resolution.OPEN,
        ).delete()
    SyncConflict.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
