"""Leads through the sync engine, against the sandbox's seeded leads on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry

from backoffice.sync.models import OutboxEntry, SyncConflict
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from leads import services
from leads.documents import wire_time
from leads.models import Lead, LeadTag
from leads.sync import GONE_MESSAGE, NOT_OURS
from tests.conftest import SITEKEY
from tests.leads_world import expected_leads, intel, lead_bot  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def tags(lead: Lead) -> list[str]:
    return sorted(LeadTag.objects.filter(lead=lead).values_list("tag", flat=True))


def remote(intel: Any, lead: Lead) -> dict[str, Any]:  # noqa: F811
    return intel.store.bots[SITEKEY].leads[lead.remote_id]


def test_the_pull_mirrors_every_seeded_lead_once(lead_bot, intel):  # noqa: F811
    expected = expected_leads()

    first = pull_bot(lead_bot)
    second = pull_bot(lead_bot)

    assert first["leads"] == {"created": len(expected)}
    assert "leads" not in second
    assert Lead.objects.count() == len(expected) == 15
    for lead in Lead.objects.all():
        want = expected[lead.company]
        got = (lead.domain, lead.country, lead.visits, wire_time(lead.last_visit_at), tags(lead))
        assert got == (
            want["domain"],
            want["country"],
            want["visits"],
            want["last_visit_at"],
            sorted(want["tags"]),
        )
        assert (lead.sync_state, lead.gone_at) == ("synced", None)
    assert not OutboxEntry.objects.exists()


def test_a_lead_no_longer_listed_is_marked_gone_and_comes_back(lead_bot, intel):  # noqa: F811
    pull_bot(lead_bot)
    lead = Lead.objects.order_by("company").first()
    leads = intel.store.bots[SITEKEY].leads
    kept = leads.pop(lead.remote_id)

    gone = pull_bot(lead_bot)
    lead.refresh_from_db()
    assert gone["leads"] == {"gone": 1}
    assert lead.gone_at is not None
    assert Lead.objects.count() == 15

    leads[lead.remote_id] = kept
    back = pull_bot(lead_bot)
    lead.refresh_from_db()
    assert back["leads"] == {"back": 1}
    assert lead.gone_at is None
    messages = list(
        LogEntry.objects.filter(object_id=str(lead.pk))
        .order_by("pk")
        .values_list("change_message", flat=True)
    )
    assert messages == ["Added on Userbot", "No longer listed by Userbot", "Listed by Userbot again"]


def test_a_bad_lead_is_reported_and_the_others_are_stored(lead_bot, intel):  # noqa: F811
    leads = intel.store.bots[SITEKEY].leads
    bad_id = next(iter(leads))
    leads[bad_id] = {**leads[bad_id], "visits": -3, "last_visit_at": "yesterday"}

    report = pull_bot(lead_bot)

    assert report["leads"] == {"created": 14, "skipped": 1}
    [skipped] = report["skipped"]
    assert (skipped["kind"], skipped["id"]) == ("leads", bad_id)
    assert "visits" in skipped["field"] and "last_visit_at" in skipped["field"]
    assert not Lead.objects.filter(remote_id=bad_id).exists()
    # Still listed, so not taken for gone once it is stored.
    leads[bad_id] = {**leads[bad_id], "visits": 3, "last_visit_at": "2026-11-20T10:00:00.000Z"}
    assert pull_bot(lead_bot)["leads"] == {"created": 1}


def test_a_tag_of_ten_thousand_characters_from_userbot_is_stored_with_a_warning(lead_bot, intel):  # noqa: F811
    leads = intel.store.bots[SITEKEY].leads
    lead_id = next(iter(leads))
    long_tag = "x" * 10_000
    leads[lead_id]["tags"] = ["hot", long_tag]

    report = pull_bot(lead_bot)

    assert report["leads"] == {"created": 15, "long_tags": 1}
    assert report["warnings"] == [
        {
            "kind": "leads",
            "id": lead_id,
            "warning": "a tag of 10,000 characters (over 100), stored as it came",
        }
    ]
    assert tags(Lead.objects.get(remote_id=lead_id)) == ["hot", long_tag]
    # Nothing changed since: only the warning again, while Userbot holds the tag.
    assert pull_bot(lead_bot)["leads"] == {"long_tags": 1}


def test_tag_changes_reach_userbot_once_each_and_come_back_as_no_change(lead_bot, intel, operator):  # noqa: F811
    pull_bot(lead_bot)
    acme, northwind = Lead.objects.filter(company__in=["Acme Logistics", "Northwind Traders"]).order_by(
        "company"
    )
    LeadTag.objects.filter(lead__in=[acme, northwind]).delete()  # a known start: no tags
    Lead.objects.filter(pk__in=[acme.pk, northwind.pk]).update(synced_snapshot=None)
    for lead in (acme, northwind):
        remote(intel, lead)["tags"] = ["partner"]
    pull_bot(lead_bot)
    intel.server.frames.clear()

    services.lead_add_tag(leads=[acme, northwind], tag=" VIP ", actor=operator)
    services.lead_remove_tag(leads=Lead.objects.filter(pk=acme.pk), tag="PARTNER", actor=operator)
    report = push_pending(lead_bot)

    assert (report.sent, report.dead, report.retrying) == (2, 0, 0)
    assert sorted((p["lead_id"], p["tag"]) for p in intel.server.asked("intel.addtag")) == sorted(
        [(acme.remote_id, "VIP"), (northwind.remote_id, "VIP")]
    )
    assert intel.server.asked("intel.removetag") == [{"lead_id": acme.remote_id, "tag": "partner"}]
    assert (remote(intel, acme)["tags"], remote(intel, northwind)["tags"]) == (["VIP"], ["partner", "VIP"])
    assert not OutboxEntry.objects.exists()
    assert push_pending(lead_bot).sent == 0
    assert "leads" not in pull_bot(lead_bot)
    assert len(intel.server.asked("intel.addtag")) == 2
    acme.refresh_from_db()
    assert (acme.sync_state, tags(acme)) == ("synced", ["VIP"])


def test_tags_changed_on_both_sides_merge_as_a_set_without_a_conflict(lead_bot, intel, operator):  # noqa: F811
    pull_bot(lead_bot)
    lead = Lead.objects.get(company="Acme Logistics")
    before = set(remote(intel, lead)["tags"])
    remote(intel, lead)["tags"] = [*remote(intel, lead)["tags"], "theirs"]
    services.lead_add_tag(leads=[lead], tag="ours", actor=operator)

    pull_bot(lead_bot)  # meets the pending change: merged here, still to be sent
    lead.refresh_from_db()
    assert (lead.sync_state, set(tags(lead))) == ("pending", before | {"theirs", "ours"})
    push_pending(lead_bot)

    lead.refresh_from_db()
    assert lead.sync_state == "synced"
    assert set(remote(intel, lead)["tags"]) == before | {"theirs", "ours"}
    assert not SyncConflict.objects.exists()
    assert "leads" not in pull_bot(lead_bot)


def test_a_tag_change_for_a_lead_gone_from_userbot_is_a_dead_letter(lead_bot, intel, operator):  # noqa: F811
    pull_bot(lead_bot)
    lead = Lead.objects.get(company="Acme Logistics")
    del intel.store.bots[SITEKEY].leads[lead.remote_id]
    services.lead_add_tag(leads=[lead], tag="vip", actor=operator)

    report = push_pending(lead_bot)

    assert (report.sent, report.dead) == (0, 1)
    entry = OutboxEntry.objects.get()
    assert (entry.state, entry.last_error) == ("dead", GONE_MESSAGE)
    lead.refresh_from_db()
    assert (lead.sync_state, lead.sync_error) == ("error", GONE_MESSAGE)


def test_the_kind_refuses_to_create_or_delete_a_lead(lead_bot, intel, operator):  # noqa: F811
    lead = Lead.objects.create(bot=lead_bot, company="Made here", synced_snapshot={})
    LeadTag.objects.create(lead=lead, tag="x", key="x")
    OutboxEntry.objects.create(bot=lead_bot, object_type="leads.lead", object_id=lead.pk)
    OutboxEntry.objects.create(
        bot=lead_bot, object_type="leads.lead", object_id=999, deleted=True, remote_id="r1"
    )
    intel.server.frames.clear()

    report = push_pending(lead_bot)

    assert (report.sent, report.dead) == (0, 2)
    assert not [f for f in intel.server.frames if f.startswith("intel.")]
    errors = set(OutboxEntry.objects.values_list("last_error", flat=True))
    assert errors == {NOT_OURS}
