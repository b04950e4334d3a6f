"""How automated messages travel between the back office and Userbot.

A message's document is its ``name``, ``enabled``, ``trigger``, ``delay_seconds``,
``conditions`` and ``answers`` (the two lists compared whole, in order, in the wire's
shape). A tag condition names its tag here by the tag's name and on the wire by the tag's
Userbot id, as a segment's tag filter does. ``automated-messages.save`` with an ``id``
changes only the fields it is given, so an update sends only what changed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Prefetch

from automation.models import Answer, AutomatedMessage, Button, Condition
from automation.selectors import answer_data, condition_data
from backoffice.sync.kinds import register
from backoffice.sync.merge import Doc
from backoffice.sync.objects import ObjectKind
from backoffice.sync.reading import RemoteList, Wire, read_list
from backoffice.userbot import api
from backoffice.userbot.codec import Request

FIELDS = ("name", "enabled", "trigger", "delay_seconds")


def answer_doc(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer with only the fields its type uses, as ``answer_data`` gives it here."""
    if answer["type"] == "image":
        return {"type": "image", "url": answer["url"]}
    if answer["type"] == "buttons":
        buttons = [{"label": b["label"], "value": b["value"]} for b in answer["buttons"]]
        return {"type": "buttons", "text": answer["text"], "buttons": buttons}
    return {"type": answer["type"], "text": answer["text"]}


class AutomatedMessageKind(ObjectKind):
    label = "automation.automatedmessage"
    model = AutomatedMessage
    pull_order = 30  # after chat users, which mirror the tags that conditions name
    noun = "automated_messages"

    def local_docs(self, objects: Sequence[Any]) -> dict[int, Doc]:
        messages = AutomatedMessage.objects.filter(pk__in=[obj.pk for obj in objects]).prefetch_related(
            "conditions", Prefetch("answers", queryset=Answer.objects.prefetch_related("buttons"))
        )
        return {
            message.pk: {
                **{name: getattr(message, name) for name in FIELDS},
                "conditions": [dict(condition_data(c)) for c in message.conditions.all()],
                "answers": [dict(answer_data(a, a.buttons.all())) for a in message.answers.all()],
            }
            for message in messages
        }

    def remote_list(self, wire: Wire) -> RemoteList:
        return read_list(wire.client, api.automated_messages_get(), "automated_messages")

    def remote_doc(self, wire: Wire, remote: dict[str, Any]) -> Doc:
        return {
            **{name: remote[name] for name in FIELDS},
            "conditions": wire.mapper("tags").conditions_in(remote["conditions"], field="conditions"),
            "answers": [answer_doc(answer) for answer in remote["answers"]],
        }

    def _wire_fields(self, wire: Wire, doc: Doc, names: Sequence[str]) -> dict[str, Any]:
        fields = {name: doc[name] for name in names}
        if "conditions" in fields:
            fields["conditions"] = wire.mapper("tags").conditions_out(fields["conditions"])
        return fields

    def create_request(self, wire: Wire, doc: Doc, client_ref: str) -> Request:
        fields = self._wire_fields(wire, doc, [*FIELDS, "conditions", "answers"])
        return api.automated_messages_save(automated_message={"client_ref": client_ref, **fields})  # type: ignore[typeddict-item]

    def placeholder_request(self, client_ref: str) -> Request:
        # Disabled, so it never fires in the moment before its deletion.
        return api.automated_messages_save(
            automated_message={
                "client_ref": client_ref,
                "name": "deleted",
                "trigger": "page_visit",
                "enabled": False,
            }
        )

    def update_request(self, wire: Wire, remote_id: str, doc: Doc, changed: Sequence[str]) -> Request:
        return api.automated_messages_save(
            automated_message={"id": remote_id, **self._wire_fields(wire, doc, changed)}
        )  # type: ignore[typeddict-item]

    def delete_request(self, remote_id: str) -> Request:
        return api.automated_messages_delete(id=remote_id)

    def write_local(self, obj: AutomatedMessage, doc: Doc) -> None:
        new = obj._state.adding
        for name in FIELDS:
            setattr(obj, name, doc[name])
        current = None if new else self.local_docs([obj])[obj.pk]
        if new:
            obj.save()
        else:
            obj.save(update_fields=list(FIELDS))
        if current is None or current["conditions"] != doc["conditions"]:
            obj.conditions.all().delete()
            Condition.objects.bulk_create(
                Condition(
                    message=obj,
                    position=position,
                    field=item["field"],
                    op=item["op"],
                    value=item["value"],
                    name=item.get("name", ""),
                )
                for position, item in enumerate(doc["conditions"])
            )
        if current is None or current["answers"] != doc["answers"]:
            obj.answers.all().delete()
            for position, item in enumerate(doc["answers"]):
                answer = Answer.objects.create(
                    message=obj,
                    position=position,
                    type=item["type"],
                    text=item.get("text", ""),
                    url=item.get("url", ""),
                )
                Button.objects.bulk_create(
                    Button(answer=answer, position=index, label=button["label"], value=button["value"])
                    for index, button in enumerate(item.get("buttons", ()))
                )


register(AutomatedMessageKind())
