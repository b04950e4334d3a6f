"""How segments travel between the back office and Userbot.

A segment's document is its ``name``, ``match`` and ``filters`` (the list, compared whole,
in order: ``field``, ``op``, ``value``, and ``name`` on a variable filter). A tag filter
names its tag here by the tag's name and on the wire by the tag's Userbot id; ``TagWire``
translates both ways, and makes sure on Userbot a tag that only exists here so far.
``count`` is Userbot's to compute and is not part of the document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backoffice.sync.kinds import failure_of, register
from backoffice.sync.merge import Doc
from backoffice.sync.objects import (
    ObjectKind,
    ReadFailed,
    RemoteList,
    Unreadable,
    Unsendable,
    Wire,
    read_list,
)
from backoffice.userbot import api
from backoffice.userbot.codec import Request
from chatusers.models import FilterField, Segment, SegmentFilter, Tag
from chatusers.sync.documents import TagBook

# Operators with which a tag filter (or condition) names one tag; the others name none.
TAG_NAMING_OPS = frozenset({"eq", "neq"})


def names_a_tag(field_name: str, op: str) -> bool:
    return field_name == "tag" and op in TAG_NAMING_OPS


def condition_doc(field_name: str, op: str, value: str, name: str) -> dict[str, str]:
    """A filter or condition as documents hold it: ``name`` only on a variable."""
    item = {"field": field_name, "op": op, "value": value}
    if field_name == FilterField.VARIABLE:
        item["name"] = name
    return item


@dataclass
class TagWire(Wire):
    """A wire that also knows the bot's tags: names here, Userbot ids there."""

    book: TagBook = field(init=False)

    def __post_init__(self) -> None:
        self.book = TagBook(self.bot)

    def tag_name(self, tag_id: str, *, field: str = "object") -> str:
        """The name here of the tag with this Userbot id (learning Userbot's tags if need be);
        Unreadable, naming ``field``, if Userbot lists no such tag."""
        if tag_id not in self.book.names:
            try:
                self.book.read(self.client)
            except ReadFailed as exc:
                raise Unreadable(f"Userbot's tags could not be read: {exc}", field=field) from exc
        key = self.book.names.get(tag_id)
        if key is None:
            raise Unreadable(f"it names the tag {tag_id}, which Userbot does not list", field=field)
        return self.book.by_name[key].name

    def tag_id(self, name: str) -> str:
        """The Userbot id of the tag of this name; a tag only here so far is made there first
        (an ``add-tag`` with no chat users only makes sure the tag exists, with its colour)."""
        tag = self.book.by_name.get(name.lower())
        if tag is None:
            raise Unsendable(f"this bot has no tag named {name}", transient=False)
        if not tag.remote_id:
            request = api.chatusers_add_tag(chatuser_ids=[], tag_name=tag.name, color=tag.color)
            outcome = next(self.client.iter_many([request]))
            failure = failure_of(outcome)
            if failure is not None:
                raise Unsendable(
                    f"the tag {tag.name} could not be made on Userbot: {failure.message}",
                    transient=failure.transient,
                )
            self.book.learn([outcome.payload["tag"]])  # type: ignore[union-attr]
        return tag.remote_id  # type: ignore[return-value]

    def conditions_out(self, items: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        """Filters or conditions as the wire takes them: a tag by its Userbot id."""
        return [
            {**item, "value": self.tag_id(item["value"])}
            if names_a_tag(item["field"], item["op"])
            else dict(item)
            for item in items
        ]

    def conditions_in(self, items: Sequence[dict[str, Any]], *, field: str) -> list[dict[str, str]]:
        """Filters or conditions as Userbot stores them (the object's ``field``), as documents
        hold them."""
        result = []
        for index, item in enumerate(items):
            value = item.get("value") or ""
            if names_a_tag(item["field"], item["op"]):
                value = self.tag_name(value, field=f"{field}[{index}].value")
            result.append(condition_doc(item["field"], item["op"], value, item.get("name") or ""))
        return result


class SegmentKind(ObjectKind):
    label = "chatusers.segment"
    model = Segment
    pull_order = 20  # after chat users, which mirror the tags that filters name
    noun = "segments"

    def wire(self, bot: Any, client: Any) -> TagWire:
        return TagWire(bot, client)

    def local_docs(self, objects: Sequence[Any]) -> dict[int, Doc]:
        filters: dict[int, list[dict[str, str]]] = defaultdict(list)
        rows = SegmentFilter.objects.filter(segment__in=[s.pk for s in objects]).select_related("tag")
        for row in rows.order_by("segment_id", "position", "id"):
            value = row.tag.name if row.tag is not None and names_a_tag(row.field, row.op) else row.value
            filters[row.segment_id].append(condition_doc(row.field, row.op, value, row.name))
        return {s.pk: {"name": s.name, "match": s.match, "filters": filters.get(s.pk, [])} for s in objects}

    def remote_list(self, wire: Wire) -> RemoteList:
        return read_list(wire.client, api.chatusers_get_bot_segments(), "segments")

    def remote_doc(self, wire: TagWire, remote: dict[str, Any]) -> Doc:  # type: ignore[override]
        return {
            "name": remote["name"],
            "match": remote["match"],
            "filters": wire.conditions_in(remote["filters"], field="filters"),
        }

    def create_request(self, wire: TagWire, doc: Doc, client_ref: str) -> Request:  # type: ignore[override]
        return api.chatusers_create_segment(
            name=doc["name"],
            match=doc["match"],
            filters=wire.conditions_out(doc["filters"]),
            client_ref=client_ref,
        )

    def placeholder_request(self, client_ref: str) -> Request:
        # "any" of no filters matches no one.
        return api.chatusers_create_segment(name="(deleted)", match="any", filters=[], client_ref=client_ref)

    def update_request(self, wire: TagWire, remote_id: str, doc: Doc, changed: Sequence[str]) -> Request:  # type: ignore[override]
        return api.chatusers_edit_segment(
            id=remote_id, name=doc["name"], match=doc["match"], filters=wire.conditions_out(doc["filters"])
        )

    def delete_request(self, remote_id: str) -> Request:
        return api.chatusers_remove_segment(ids=[remote_id])

    def write_local(self, obj: Segment, doc: Doc) -> None:  # type: ignore[override]
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
