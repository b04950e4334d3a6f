"""The pull of a bot's leads: ``intel.leadlist`` (every lead, one array) against the mirror.

Set-based, for a hundred thousand leads: the mirror is read once, each lead Userbot lists is
compared with its last synced document, and only what differs is written, in batches.
What a lead becomes is ``reconcile.decide``'s to say, as for every kind. A lead Userbot no
longer lists is marked gone (``gone_at``), never deleted: Userbot may list it again, and it
comes back. A lead that fails the checks is skipped and reported, the rest go on; a tag over
``TAG_MAX`` characters is stored as it came, with a warning in the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from backoffice.audit import record_many
from backoffice.sync.actor import sync_actor
from backoffice.sync.kinds import PullContext
from backoffice.sync.merge import Doc
from backoffice.sync.models import OutboxEntry, SyncState, new_client_ref
from backoffice.sync.reading import RemoteList
from backoffice.sync.reconcile import Here, Settled, decide
from backoffice.sync.untrusted import is_kept, keep_ours
from leads.documents import doc_fields, local_docs, remote_doc
from leads.models import Lead, LeadTag
from leads.tags import TAG_MAX, tag_key

LABEL = "leads.lead"
NOUN = "leads"
BATCH = 1000
WRITTEN = ("company", "domain", "country", "visits", "last_visit_at")
WARNINGS = "warnings"
WARNINGS_SHOWN = 50


def replace_tags(tags: dict[int, Iterable[str]]) -> None:
    """Give each lead (by id) exactly these tags, as written; one of each key."""
    if not tags:
        return
    LeadTag.objects.filter(lead_id__in=list(tags)).delete()
    rows = []
    for lead_id, names in tags.items():
        keys: set[str] = set()
        for name in names:
            key = tag_key(name)
            if key not in keys:
                keys.add(key)
                rows.append(LeadTag(lead_id=lead_id, tag=name, key=key))
    LeadTag.objects.bulk_create(rows, batch_size=BATCH)


def cased(doc_tags: list[str], *sources: Iterable[str]) -> list[str]:
    """The tags of a document (lower case) as the first source that has each writes it."""
    written: dict[str, str] = {}
    for source in reversed(sources):
        written.update({tag.strip().lower(): tag for tag in source})
    return [written.get(tag, tag) for tag in doc_tags]


class LeadPull:
    """One reconciliation of a bot's leads with Userbot's list."""

    def __init__(self, ctx: PullContext) -> None:
        self.ctx, self.bot = ctx, ctx.bot
        self.actor = sync_actor()

    def count(self, what: str, n: int = 1) -> None:
        self.ctx.count(NOUN, what, n)

    def run(self, listing: RemoteList) -> None:
        entries = OutboxEntry.objects.filter(object_type=LABEL, object_id=OuterRef("pk"))
        locals_ = {
            lead.remote_id: lead
            for lead in Lead.objects.filter(bot=self.bot).annotate(
                in_flight=Exists(entries.filter(state=OutboxEntry.State.IN_FLIGHT)),
                pending=Exists(entries.filter(state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.DEAD])),
            )
        }
        seen = {r.id for r in listing.rejected if r.id}
        for rejected in listing.rejected:
            self.ctx.skip(NOUN, rejected)
        keep_ours(Lead, [(locals_[r.id].pk, r) for r in listing.rejected if r.id in locals_])
        new, changed, back = [], [], []
        for remote in listing.objects:
            seen.add(remote["id"])
            self._warn_long_tags(remote)
            doc = remote_doc(remote)
            local = locals_.get(remote["id"])
            if local is None:
                new.append((remote, doc))
                continue
            if local.gone_at is not None:
                back.append(local)
            if local.in_flight:
                self.count("skipped_in_flight")
            elif doc != local.synced_snapshot or is_kept(local):
                changed.append((local, remote, doc))
        for start in range(0, len(new), BATCH):
            self._insert(new[start : start + BATCH])
        for start in range(0, len(changed), BATCH):
            self._update(changed[start : start + BATCH])
        self._back(back)
        if listing.complete:
            self._gone([lead for rid, lead in locals_.items() if rid not in seen and lead.gone_at is None])

    def _warn_long_tags(self, remote: dict[str, Any]) -> None:
        long_tags = [tag for tag in remote["tags"] if len(tag.strip()) > TAG_MAX]
        if not long_tags:
            return
        self.count("long_tags", len(long_tags))
        with self.ctx._lock:
            shown = self.ctx.report.setdefault(WARNINGS, [])
            if len(shown) < WARNINGS_SHOWN:
                warning = f"a tag of {len(long_tags[0]):,} characters (over {TAG_MAX}), stored as it came"
                shown.append({"kind": NOUN, "id": remote["id"], "warning": warning})

    def _insert(self, found: list[tuple[dict[str, Any], Doc]]) -> None:
        now = timezone.now()
        leads = [
            Lead(
                bot=self.bot,
                remote_id=remote["id"],
                client_ref=new_client_ref(),
                sync_state=SyncState.SYNCED,
                synced_at=now,
                synced_snapshot=doc,
                **doc_fields(doc),
            )
            for remote, doc in found
        ]
        with transaction.atomic():
            Lead.objects.bulk_create(leads)
            replace_tags({lead.pk: remote["tags"] for lead, (remote, _) in zip(leads, found, strict=True)})
            record_many(actor=self.actor, objects=leads, action="add", message="Added on Userbot")
        self.count("created", len(leads))

    def _update(self, found: list[tuple[Lead, dict[str, Any], Doc]]) -> None:
        docs = local_docs([local for local, _, _ in found])
        settled = Settled(self.ctx, LABEL, NOUN, Lead)
        written: list[Lead] = []
        tags: dict[int, list[str]] = {}
        for local, remote, doc in found:
            here = Here(local.synced_snapshot, local.pending, False, docs[local.pk])
            decision = decide(here, doc, prefer=settled.prefer)
            if decision.doc is not None and decision.doc != here.doc:
                for name, value in doc_fields(decision.doc).items():
                    setattr(local, name, value)
                written.append(local)
                if decision.doc["tags"] != here.doc["tags"]:
                    tags[local.pk] = cased(decision.doc["tags"], remote["tags"])
            settled.record(
                local, decision, remote_id=remote["id"], snapshot=doc, remote_updated_at=None, before=here.doc
            )
        with transaction.atomic():
            Lead.objects.bulk_update(written, list(WRITTEN), batch_size=BATCH)
            replace_tags(tags)
        settled.write()

    def _back(self, leads: list[Lead]) -> None:
        if not leads:
            return
        with transaction.atomic():
            Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(gone_at=None)
            record_many(actor=self.actor, objects=leads, action="change", message="Listed by Userbot again")
        self.count("back", len(leads))

    def _gone(self, leads: list[Lead]) -> None:
        if not leads:
            return
        now = timezone.now()
        for start in range(0, len(leads), BATCH):
            chunk = leads[start : start + BATCH]
            with transaction.atomic():
                Lead.objects.filter(pk__in=[lead.pk for lead in chunk]).update(gone_at=now)
                record_many(
                    actor=self.actor, objects=chunk, action="change", message="No longer listed by Userbot"
                )
        self.count("gone", len(leads))
