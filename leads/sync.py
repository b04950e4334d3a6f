"""How leads travel between the back office and Userbot (intel).

Userbot makes and lists leads (``intel.leadlist``, pulled whole by ``leads.pull``); the back
office only tags them. A push turns the difference between a lead's synced tags and its
tags here into ``intel.addtag`` / ``intel.removetag`` requests, one per tag: each is safe
to repeat (adding a tag the lead has, or removing one it lacks, changes nothing), so a
lost answer is simply sent again. Creating or deleting a lead is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backoffice.sync.kinds import Failure, PullContext, PushItem, SyncKind, failure_of, register
from backoffice.sync.merge import Doc
from backoffice.sync.reading import describe, sendable
from backoffice.sync.untrusted import answer_problems
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request, Response
from backoffice.userbot.models import Bot
from leads import documents
from leads.models import Lead
from leads.pull import LABEL, LeadPull, cased, replace_tags
from leads.wire import read_leads

GONE_MESSAGE = "The lead is gone from Userbot (404); its tags cannot change there."
NOT_OURS = "Leads are made and deleted by Userbot alone; only their tags are sent."


class LeadKind(SyncKind):
    label = LABEL
    model = Lead
    pull_order = 70
    noun = "leads"

    def local_docs(self, objects: Sequence[Any]) -> dict[int, Doc]:
        return documents.local_docs(objects)

    def pull(self, ctx: PullContext) -> None:
        LeadPull(ctx).run(read_leads(ctx.client))

    def refresh(self, bot: Bot, events: list[dict[str, Any]], *, client: UserbotClient) -> dict[str, int]:
        return {"unresolved": len(events)}  # Userbot sends no lead events: a pull settles them

    def set_local(self, obj: Lead, changes: Doc) -> None:  # type: ignore[override]
        if changes.get("tags") is not None:
            current = documents.tags_of([obj]).get(obj.pk, [])
            replace_tags({obj.pk: cased(changes["tags"], current)})

    def push(self, client: UserbotClient, items: list[PushItem]) -> None:
        live = [i for i in items if not i.deleted and i.obj is not None and i.remote_id]
        live_ids = {id(i) for i in live}
        for item in items:
            if id(item) not in live_ids:
                item.fail(NOT_OURS, transient=False)
        written = documents.tags_of([i.obj for i in live])  # type: ignore[misc]
        parts: list[tuple[PushItem, str, str, Request]] = []
        for item in live:
            base = set((item.snapshot or {}).get("tags") or ())
            local = set((item.local or {}).get("tags") or ())
            as_written = cased(sorted(local - base), written.get(item.obj.pk, []))  # type: ignore[union-attr]
            for tag in as_written:
                parts.append(
                    (item, "add", tag.strip().lower(), api.intel_addtag(lead_id=item.remote_id, tag=tag))
                )
            for tag in sorted(base - local):
                parts.append((item, "remove", tag, api.intel_removetag(lead_id=item.remote_id, tag=tag)))
        applied = self._send(client, parts)
        for item in live:
            done = applied.get(id(item))
            if done:
                snapshot = dict(item.snapshot or {})
                tags = set(snapshot.get("tags") or ())
                tags |= {tag for op, tag in done if op == "add"}
                tags -= {tag for op, tag in done if op == "remove"}
                snapshot["tags"] = sorted(tags)
                item.confirm(snapshot=snapshot)

    def _send(
        self, client: UserbotClient, parts: list[tuple[PushItem, str, str, Request]]
    ) -> dict[int, list[tuple[str, str]]]:
        """Pipeline the requests; returns, by item, the tag changes Userbot confirmed, and
        records every failure on its item (a request the contract refuses is never sent)."""
        ready = [(item, op, tag, request) for item, op, tag, request in parts if sendable(item, request)]
        applied: dict[int, list[tuple[str, str]]] = {}
        if not ready:
            return applied
        outcomes = list(client.iter_many(request for *_, request in ready))
        for (item, op, tag, request), outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, Response) and outcome.status == 404:
                item.fail(GONE_MESSAGE, transient=False)
                continue
            failure = failure_of(outcome)
            if failure is not None:
                item.fail(describe(failure), transient=failure.transient)
                continue
            problems = answer_problems(request.operation, outcome.payload, times=())  # type: ignore[union-attr]
            if problems:
                item.fail(
                    describe(
                        Failure(f"Userbot's answer to {request.operation} is not valid", False, problems)
                    ),
                    transient=False,
                )
                continue
            applied.setdefault(id(item), []).append((op, tag))
        return applied


register(LeadKind())
