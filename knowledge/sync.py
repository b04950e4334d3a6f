"""How knowledge base interactions travel between the back office and Userbot (qeafilter).

An interaction's document is its ``label``, ``question``, ``answer``, ``language`` and
``enabled``. ``qeafilter.save`` creates (with the ``client_ref``), ``qeafilter.save.token``
updates: it always carries the label (as ``<label>``), so Userbot's copy is read before an
update and a label changed there meanwhile is carried as Userbot has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backoffice.sync.kinds import register
from backoffice.sync.merge import Doc
from backoffice.sync.objects import ObjectKind
from backoffice.sync.reading import RemoteList, Wire, read_pages
from backoffice.userbot import api
from backoffice.userbot.codec import Request
from knowledge.models import Interaction

FIELDS = ("label", "question", "answer", "language", "enabled")


class InteractionKind(ObjectKind):
    label = "knowledge.interaction"
    model = Interaction
    pull_order = 40
    noun = "interactions"

    def local_docs(self, objects: Sequence[Any]) -> dict[int, Doc]:
        return {obj.pk: {name: getattr(obj, name) for name in FIELDS} for obj in objects}

    def remote_list(self, wire: Wire) -> RemoteList:
        return read_pages(wire.client, api.qeafilter_search_page_db_ai, "interactions")

    def remote_doc(self, wire: Wire, remote: dict[str, Any]) -> Doc:
        doc = {name: remote[name] for name in FIELDS}
        doc["language"] = doc["language"] or ""
        return doc

    def create_request(self, wire: Wire, doc: Doc, client_ref: str) -> Request:
        return api.qeafilter_save(**doc, client_ref=client_ref)

    def placeholder_request(self, client_ref: str) -> Request:
        return api.qeafilter_save(
            label="deleted", question="deleted", answer="deleted", enabled=False, client_ref=client_ref
        )

    def update_request(self, wire: Wire, remote_id: str, doc: Doc, changed: Sequence[str]) -> Request:
        return api.qeafilter_save_token(
            id=remote_id, label=doc["label"], **{name: doc[name] for name in changed if name != "label"}
        )

    def delete_request(self, remote_id: str) -> Request:
        return api.qeafilter_delete(id=remote_id)

    def write_local(self, obj: Interaction, doc: Doc) -> None:  # type: ignore[override]
        for name in FIELDS:
            setattr(obj, name, doc[name])
        if obj._state.adding:
            obj.save()
        else:
            obj.save(update_fields=list(FIELDS))


register(InteractionKind())
