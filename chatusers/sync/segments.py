"""How segments travel between the back office and Userbot.

A segment's document is its ``name``, ``match`` and ``filters`` (the list, compared whole,
in order: ``field``, ``op``, ``value``, and ``name`` on a variable filter). A tag filter
names its tag here by the tag's name and on the wire by the tag's Userbot id; the bot's
``TagBook`` (``chatusers.sync.tags``) translates both ways.
``count`` is Userbot's to compute and is not part of the document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from backoffice.sync.kinds import register
from backoffice.sync.merge import Doc
from backoffice.sync.objects import ObjectKind
from backoffice.sync.reading import RemoteList, Wire, read_list
from backoffice.userbot import api
from backoffice.userbot.codec import Request
from chatusers.models import Segment, SegmentFilter, Tag
from chatusers.sync.tags import condition_doc, names_a_tag


class SegmentKind(ObjectKind):
    label = "chatusers.segment"
    model = Segment
    pull_order = 20  # after chat users, which mirror the tags that filters name
    noun = "segments"

    def local_docs(self, objects: Sequence[Any]) -> dict[int, Doc]:
        filters: dict[int, list[dict[str, str]]] = defaultdict(list)
        rows = SegmentFilter.objects.filter(segment__in=[s.pk for s in objects]).select_related("tag")
        for row in rows.order_by("segment_id", "position", "id"):
            value = row.tag.name if row.tag is not None and names_a_tag(row.field, row.op) else row.value
            filters[row.segment_id].append(condition_doc(row.field, row.op, value, row.name))
        return {s.pk: {"name": s.name, "match": s.match, "filters": filters.get(s.pk, [])} for s in objects}

    def remote_list(self, wire: Wire) -> RemoteList:
        return read_list(wire.client, api.chatusers_get_bot_segments(), "segments")

    def remote_doc(self, wire: Wire, remote: dict[str, Any]) -> Doc:
        return {
            "name": remote["name"],
            "match": remote["match"],
            "filters": wire.mapper("tags").conditions_in(remote["filters"], field="filters"),
        }

    def create_request(self, wire: Wire, doc: Doc, client_ref: str) -> Request:
        return api.chatusers_create_segment(
            name=doc["name"],
            match=doc["match"],
            filters=wire.mapper("tags").conditions_out(doc["filters"]),
            client_ref=client_ref,
        )

    def placeholder_request(self, client_ref: str) -> Request:
        # "any" of no filters matches no one.
        return api.chatusers_create_segment(name="(deleted)", match="any", filters=[], client_ref=client_ref)

    def update_request(self, wire: Wire, remote_id: str, doc: Doc, changed: Sequence[str]) -> Request:
        filters = wire.mapper("tags").conditions_out(doc["filters"])
        return api.chatusers_edit_segment(id=remote_id, name=doc["name"], match=doc["match"], filters=filters)

    def delete_request(self, remote_id: str) -> Request:
        return api.chatusers_remove_segment(ids=[remote_id])

    def write_local(self, obj: Segment, doc: Doc) -> None:
        new = obj._state.adding
        obj.name, obj.match = doc["name"], doc["match"]
        if new:
            obj.save()
        else:
            obj.save(update_fields=["name", "match", "updated_at"])
            if self.local_docs([obj])[obj.pk]["filters"] == doc["filters"]:
                return
            obj.filters.all().delete()
        tags = {tag.name.lower(): tag for tag in Tag.objects.filter(bot_id=obj.bot_id)}
        SegmentFilter.objects.bulk_create(
            SegmentFilter(
                segment=obj,
                position=position,
                field=item["field"],
                op=item["op"],
                value=item["value"],
                name=item.get("name", ""),
                tag=tags.get(item["value"].lower()) if names_a_tag(item["field"], item["op"]) else None,
            )
            for position, item in enumerate(doc["filters"])
        )


register(SegmentKind())
