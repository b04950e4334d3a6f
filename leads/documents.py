"""A lead as a document (``merge.Doc``): what both sides hold of it, compared field by field.

``company``, ``domain``, ``country``, ``visits``, ``last_visit_at`` (a wire time) and
``tags`` (lower case, sorted: a set, as the engine's merge reads the key ``tags``, and as
Userbot compares them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from backoffice.sync.kinds import parse_time
from backoffice.sync.merge import Doc
from leads.models import Lead, LeadTag
from leads.tags import doc_tags

FIELDS = ("company", "domain", "country", "visits")


def wire_time(moment: datetime | None) -> str | None:
    """A moment as the wire writes it: UTC, milliseconds and Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def tags_of(leads: Sequence[Lead]) -> dict[int, list[str]]:
    """The tags of each lead as written, by lead id, in one query."""
    tags: dict[int, list[str]] = defaultdict(list)
    rows = LeadTag.objects.filter(lead_id__in=[lead.pk for lead in leads]).order_by("pk")
    for lead_id, tag in rows.values_list("lead_id", "tag"):
        tags[lead_id].append(tag)
    return tags


def local_docs(leads: Sequence[Lead]) -> dict[int, Doc]:
    tags = tags_of(leads)
    return {
        lead.pk: {
            **{name: getattr(lead, name) for name in FIELDS},
            "last_visit_at": wire_time(lead.last_visit_at),
            "tags": doc_tags(tags.get(lead.pk, [])),
        }
        for lead in leads
    }


def remote_doc(remote: dict[str, Any]) -> Doc:
    return {
        **{name: remote[name] for name in FIELDS},
        "last_visit_at": remote["last_visit_at"],
        "tags": doc_tags(remote["tags"]),
    }


def doc_fields(doc: Doc) -> dict[str, Any]:
    """The model fields a document gives (its tags apart)."""
    return {**{name: doc[name] for name in FIELDS}, "last_visit_at": parse_time(doc["last_visit_at"])}
