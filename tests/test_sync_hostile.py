"""The sync engine against a Userbot that misbehaves: every frame from it is untrusted input.

The peer is ``tests.hostile``: the sandbox, with the answers of a channel replaced, broken,
dropped or held back. Each kind of list read fails on its own, malformed objects are
skipped and recorded, values the models cannot hold never land silently, and answers to
creates are matched to their requests by ``client_ref``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.validators import validate_email

from automation import services as automation_services
from automation.models import AutomatedMessage
from backoffice.sync.kinds import SKIPPED_SHOWN, parse_time
from backoffice.sync.models import BotSync, OutboxEntry
from backoffice.sync.outbox import mark_changed
from backoffice.sync.pull import pull_bot
from backoffice.sync.relay import push_pending
from backoffice.sync.untrusted import KEPT_PREFIX
from chatusers import services as chatuser_services
from chatusers.models import BotVariable, ChatUser, Feedback, Segment, Tag
from chatusers.validators import email_problem
from knowledge import services as knowledge_services
from knowledge.models import Interaction
from sandbox.runner import SandboxHandle
from tests.conftest import APIKEY, SITEKEY, RawWs
from tests.hostile import (
    HostileServer,
    drop,
    on_item,
    on_items,
    on_payload,
    refuse,
    stall,
    start_hostile,
    with_payload,
)
from tests.test_import_validation import EMAILS

pytestmark = pytest.mark.django_db(transaction=True)

# The list each kind reads, the label it fails under, and what a pull leaves here of the
# objects ``seed`` puts on Userbot.
LISTS = {
    "chatusers.get-bot-tags": "chatusers.tag",
    "chatusers.get": "chatusers.chatuser",
    "chatusers.get-bot-segments": "chatusers.segment",
    "automated-messages.get": "automation.automatedmessage",
    "qeafilter.search.page-db-ai": "knowledge.interaction",
    "bot.get-vars": "chatusers.botvariable",
    "chatusers.get-feedback": "chatusers.feedback",
}


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """The hostile server, in place of the plain sandbox of the shared fixtures."""
    with start_hostile(apikeys=(APIKEY,), sitekeys=(SITEKEY,)) as handle:
        yield handle


@pytest.fixture
def userbot(sandbox: SandboxHandle) -> HostileServer:
    assert isinstance(sandbox.server, HostileServer)
    return sandbox.server


@pytest.fixture
def admin_client(client: Any) -> Any:
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "x"))
    return client


def seed(ws: RawWs, sandbox: SandboxHandle) -> None:
    """One object of every kind on Userbot; nothing of them refers to a tag, so that each
    kind can be read without the others."""
    [ada] = ws.ok("chatusers.create", [{"name": "Ada", "variables": [{"name": "plan", "value": "pro"}]}])[
        "chatusers"
    ]
    ws.ok("chatusers.add-tag", {"chatuser_ids": [], "tag": {"name": "vip", "color": "#112233"}})
    ws.ok("chatusers.create-segment", {"name": "Everyone", "match": "all", "filters": []})
    ws.ok("automated-messages.save", {"name": "Hello", "trigger": "page_visit"})
    ws.ok("qeafilter.save", {"label": "refund", "question": "Refund?", "answer": "Yes."})
    feedback_id = sandbox.store.new_id()
    sandbox.store.bots[SITEKEY].feedback[feedback_id] = {
        "id": feedback_id,
        "chatuser_id": ada["id"],
        "session_id": "s1",
        "rating": 5,
        "comment": "great",
        "created_at": "2026-11-02T10:00:00.000Z",
    }


def mirrored() -> dict[str, list[str]]:
    """What is here of ``seed``'s objects, by the list each came from."""
    return {
        "chatusers.get-bot-tags": list(Tag.objects.values_list("name", flat=True)),
        "chatusers.get": list(ChatUser.objects.values_list("name", flat=True)),
        "chatusers.get-bot-segments": list(Segment.objects.values_list("name", flat=True)),
        "automated-messages.get": list(AutomatedMessage.objects.values_list("name", flat=True)),
        "qeafilter.search.page-db-ai": list(Interaction.objects.values_list("label", flat=True)),
        "bot.get-vars": list(BotVariable.objects.values_list("name", flat=True)),
        "chatusers.get-feedback": list(Feedback.objects.values_list("comment", flat=True)),
    }


ALL_MIRRORED = {
    "chatusers.get-bot-tags": ["vip"],
    "chatusers.get": ["Ada"],
    "chatusers.get-bot-segments": ["Everyone"],
    "automated-messages.get": ["Hello"],
    "qeafilter.search.page-db-ai": ["refund"],
    "bot.get-vars": ["plan"],
    "chatusers.get-feedback": ["great"],
}

FAULTS = {
    "500": (refuse(500), "500 server_error"),
    "drop": (drop, "connection lost"),
    "timeout": (stall(1.5), "no answer to"),
}


# --- 1. one list that fails does not stop the others ---------------------------------------


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("channel", sorted(LISTS))
def test_a_list_that_fails_is_recorded_and_the_others_are_pulled(
    bot, raw_ws, sandbox, userbot, settings, channel, fault
):
    settings.USERBOT_REQUEST_TIMEOUT_S = 0.5
    seed(raw_ws, sandbox)
    hook, reason = FAULTS[fault]
    userbot.tamper(channel, hook)

    report = pull_bot(bot)

    state = BotSync.objects.get(bot=bot)
    label = LISTS[channel]
    assert state.pull_error.startswith(f"{label}: "), state.pull_error
    assert [other for other in LISTS.values() if f"{other}: " in state.pull_error] == [label]
    assert reason in state.pull_error
    assert report["errors"] == {"kinds": 1}
    assert state.pull_finished_at is None
    assert {c: names for c, names in mirrored().items() if c != channel} == {
        c: names for c, names in ALL_MIRRORED.items() if c != channel
    }
    assert mirrored()[channel] == []

    userbot.calm()
    again = pull_bot(bot)

    state.refresh_from_db()
    assert (state.pull_error, "errors" in again) == ("", False)
    assert state.pull_finished_at is not None
    assert mirrored() == ALL_MIRRORED


def test_manage_py_sync_goes_on_past_a_list_that_fails_and_says_which(bot, raw_ws, sandbox, userbot):
    seed(raw_ws, sandbox)
    userbot.tamper("chatusers.get-bot-segments", refuse(500))
    out, err = StringIO(), StringIO()

    call_command("sync", "--bot", SITEKEY, stdout=out, stderr=err)

    assert "chatusers.segment: chatusers.get-bot-segments: 500 server_error" in err.getvalue()
    assert "Push: pushed 0" in out.getvalue()
    assert mirrored() == {**ALL_MIRRORED, "chatusers.get-bot-segments": []}


# --- 2. malformed objects are skipped and recorded; the rest of the list is applied --------

LATER = "2031-01-01T00:00:00.000Z"
CHANNEL_REFUSED = (
    'channel: must be one of: "webchat", "whatsapp", "messenger", "instagram", "telegram", "api"'
)


def by_name(name: str) -> Callable[[Any], bool]:
    return lambda obj: isinstance(obj, dict) and obj.get("name") == name


def make_chatusers(ws: RawWs, *names: str) -> dict[str, str]:
    """Chat users made on Userbot, their Userbot id by name."""
    users = ws.ok("chatusers.create", [{"name": name} for name in names])["chatusers"]
    return {user["name"]: user["id"] for user in users}


def skipped(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(entry["kind"], entry["id"], entry["field"]) for entry in report.get("skipped", [])}


def test_malformed_chat_users_are_skipped_and_recorded_and_the_rest_of_the_page_is_applied(
    bot, raw_ws, userbot
):
    ids = make_chatusers(raw_ws, "Ada", "Bob", "Cy", "Di", "Ed", "Flo", "Gus")
    breakage = {
        "Bob": lambda u: ["a list", "where an object belongs"],
        "Cy": lambda u: {k: v for k, v in u.items() if k != "id"},
        "Di": lambda u: {**u, "name": 12345},
        "Ed": lambda u: {**u, "name": "x" * 10_000},
        "Flo": lambda u: {**u, "created_at": "2026-02-30T10:00:00.000Z"},
        "Gus": lambda u: {**u, "name": "Gu\x00s"},
    }
    userbot.tamper(
        "chatusers.get",
        on_items("chatusers", lambda users: [breakage.get(u["name"], lambda u: u)(u) for u in users]),
    )

    report = pull_bot(bot)

    state = BotSync.objects.get(bot=bot)
    assert state.pull_error == ""
    assert list(ChatUser.objects.values_list("name", flat=True)) == ["Ada"]
    assert report["chatusers"] == {"created": 1, "skipped": 6}
    assert skipped(report) == {
        ("chatusers", "", "object"),
        ("chatusers", "", "id"),
        ("chatusers", ids["Di"], "name"),
        ("chatusers", ids["Ed"], "name"),
        ("chatusers", ids["Flo"], "created_at"),
        ("chatusers", ids["Gus"], "name"),
    }
    reasons = {entry["id"]: entry["reason"] for entry in report["skipped"] if entry["id"]}
    assert reasons == {
        ids["Di"]: "name: must be a string",
        ids["Ed"]: "name: must have at most 200 characters",
        ids["Flo"]: "created_at: is not a real date and time",
        ids["Gus"]: "name: holds a NUL character, which cannot be stored",
    }
    assert state.pull_report == report
    assert not OutboxEntry.objects.exists()


def test_the_skipped_objects_listed_in_a_report_are_bounded_and_the_count_is_not(bot, raw_ws, userbot):
    raw_ws.ok("chatusers.create", [{"name": f"U{n}"} for n in range(SKIPPED_SHOWN + 20)])
    userbot.tamper(
        "chatusers.get", on_items("chatusers", lambda users: [{**u, "channel": "fax"} for u in users])
    )

    report = pull_bot(bot)

    assert report["chatusers"] == {"skipped": SKIPPED_SHOWN + 20}
    assert len(report["skipped"]) == SKIPPED_SHOWN
    assert {entry["reason"] for entry in report["skipped"]} == {CHANNEL_REFUSED}
    assert ChatUser.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("name", "x" * 201, "name: must have at most 200 characters"),
        ("surname", "x" * 201, "surname: must have at most 200 characters"),
        ("email", "ada@exa_mple.com", "email: is not a valid email address"),
        ("email", "no-at-sign", "email: does not match the email pattern"),
        ("phone", "+0123", "phone: does not match the E.164 phone pattern"),
        ("channel", "fax", CHANNEL_REFUSED),
        ("language", "xx", "language: is not a valid ISO 639-1 language code"),
        (
            "tags",
            ["not-a-tag-userbot-lists"],
            "tags: names the tag not-a-tag-userbot-lists, which Userbot's list of tags does not hold",
        ),
        (
            "variables",
            [{"id": "v1", "name": "plan", "value": "a"}, {"id": "v1", "name": "plan", "value": "b"}],
            "variables: sets a variable twice",
        ),
    ],
)
def test_a_value_a_chat_user_here_cannot_hold_is_never_stored_nor_cut_to_fit(
    bot, raw_ws, userbot, field, value, reason
):
    ids = make_chatusers(raw_ws, "Ada", "Bob")
    pull_bot(bot)  # Ada is here, synced
    ada = ChatUser.objects.get(name="Ada")
    raw_ws.ok("chatusers.create", [{"name": "Cleo"}])  # new on Userbot
    bad = {"Ada": LATER, "Cleo": None}
    userbot.tamper(
        "chatusers.get",
        on_item(
            "chatusers",
            lambda u: u["name"] in bad,
            lambda u: {**u, field: value, "updated_at": bad[u["name"]] or u["updated_at"]},
        ),
    )

    report = pull_bot(bot)

    ada.refresh_from_db()
    assert (ada.name, ada.sync_state) == ("Ada", "error")
    assert ada.sync_error == f"{KEPT_PREFIX}: {reason}"
    assert ada.remote_updated_at != parse_time(LATER)
    assert sorted(ChatUser.objects.values_list("name", flat=True)) == ["Ada", "Bob"]  # no Cleo
    assert report["chatusers"] == {"skipped": 2}
    assert {entry["reason"] for entry in report["skipped"]} == {reason}
    assert not OutboxEntry.objects.exists()
    assert BotSync.objects.get(bot=bot).pull_error == ""

    # Userbot mends it: the next pull takes it, and the flag goes.
    userbot.calm()
    mended = "2032-01-01T00:00:00.000Z"
    userbot.tamper(
        "chatusers.get",
        on_item(
            "chatusers",
            lambda u: u["id"] == ids["Ada"],
            lambda u: {**u, "name": "Ada L", "updated_at": mended},
        ),
    )
    pull_bot(bot)

    ada.refresh_from_db()
    assert (ada.name, ada.sync_state, ada.sync_error) == ("Ada L", "synced", "")
    assert ChatUser.objects.filter(name="Cleo").exists()


def test_a_flagged_chat_user_is_looked_at_again_when_userbot_goes_back_to_the_version_last_synced(
    bot, raw_ws, userbot
):
    make_chatusers(raw_ws, "Ada")
    pull_bot(bot)
    userbot.tamper(
        "chatusers.get",
        on_item("chatusers", by_name("Ada"), lambda u: {**u, "phone": "12", "updated_at": LATER}),
    )
    pull_bot(bot)
    assert ChatUser.objects.get().sync_state == "error"

    userbot.calm()
    report = pull_bot(bot)

    ada = ChatUser.objects.get()
    assert (ada.name, ada.phone, ada.sync_state, ada.sync_error) == ("Ada", None, "synced", "")
    assert "skipped" not in report.get("chatusers", {})


def test_a_name_of_exactly_the_column_s_length_is_stored_whole(bot, raw_ws):
    make_chatusers(raw_ws, "n" * 200)

    pull_bot(bot)

    assert ChatUser.objects.get().name == "n" * 200


# (channel, list key, what makes the second object of the kind bad, the field named, reason)
BAD_OBJECTS = {
    "segments": (
        "chatusers.get-bot-segments",
        "segments",
        {"name": "x" * 10_000},
        "name",
        "must have at most 200 characters",
    ),
    "automated_messages": (
        "automated-messages.get",
        "automated_messages",
        {"delay_seconds": 10**12},
        "delay_seconds",
        "must be at most 2147483647",
    ),
    "interactions": (
        "qeafilter.search.page-db-ai",
        "interactions",
        {"updated_at": "2026-02-30T10:00:00.000Z"},
        "updated_at",
        "is not a real date and time",
    ),
    "feedback": ("chatusers.get-feedback", "feedback", {"rating": 9}, "rating", "must be at most 5"),
    "tags": (
        "chatusers.get-bot-tags",
        "tags",
        {"color": "red"},
        "color",
        "does not match the colour pattern",
    ),
    "bot_variables": (
        "bot.get-vars",
        "variables",
        {"type": "t" * 51},
        "type",
        "must have at most 50 characters",
    ),
}


def seed_second(ws: RawWs, sandbox: SandboxHandle, noun: str) -> Callable[[Any], bool]:
    """A second object of the kind on Userbot, and how to tell it in a list."""
    if noun == "segments":
        ws.ok("chatusers.create-segment", {"name": "Second", "match": "any", "filters": []})
    elif noun == "automated_messages":
        ws.ok("automated-messages.save", {"name": "Second", "trigger": "exit_intent"})
    elif noun == "interactions":
        ws.ok("qeafilter.save", {"label": "second", "question": "Q?", "answer": "A."})
        return lambda obj: obj.get("label") == "second"
    elif noun == "feedback":
        fid = sandbox.store.new_id()
        sandbox.store.bots[SITEKEY].feedback[fid] = {
            "id": fid,
            "chatuser_id": "c1",
            "session_id": "s2",
            "rating": 1,
            "comment": "second",
            "created_at": "2026-11-03T10:00:00.000Z",
        }
        return lambda obj: obj.get("comment") == "second"
    elif noun == "tags":
        ws.ok("chatusers.add-tag", {"chatuser_ids": [], "tag": {"name": "Second", "color": "#445566"}})
    elif noun == "bot_variables":
        sandbox.store.bots[SITEKEY].bot_variables.append({"name": "Second", "type": "string"})
    return by_name("Second")


@pytest.mark.parametrize("noun", sorted(BAD_OBJECTS))
def test_a_malformed_object_of_any_list_is_skipped_and_the_others_of_the_list_are_taken(
    bot, raw_ws, sandbox, userbot, noun
):
    seed(raw_ws, sandbox)
    is_second = seed_second(raw_ws, sandbox, noun)
    channel, key, breakage, field, reason = BAD_OBJECTS[noun]
    userbot.tamper(channel, on_item(key, is_second, lambda obj: {**obj, **breakage}))

    report = pull_bot(bot)

    assert BotSync.objects.get(bot=bot).pull_error == ""
    assert mirrored() == ALL_MIRRORED
    assert report[noun]["skipped"] == 1
    [entry] = report["skipped"]
    assert (entry["kind"], entry["field"], entry["reason"]) == (noun, field, f"{field}: {reason}")


def test_an_object_here_keeps_its_values_and_is_flagged_when_userbot_sends_a_version_it_cannot_hold(
    bot, raw_ws, userbot
):
    raw_ws.ok("chatusers.create-segment", {"name": "Everyone", "match": "all", "filters": []})
    raw_ws.ok("qeafilter.save", {"label": "refund", "question": "Refund?", "answer": "Yes."})
    pull_bot(bot)
    userbot.tamper(
        "chatusers.get-bot-segments",
        on_item("segments", by_name("Everyone"), lambda s: {**s, "name": "E" * 201, "updated_at": LATER}),
    )
    userbot.tamper(
        "qeafilter.search.page-db-ai",
        on_items(
            "interactions", lambda items: [{**i, "language": "klingon", "updated_at": LATER} for i in items]
        ),
    )

    report = pull_bot(bot)

    segment, interaction = Segment.objects.get(), Interaction.objects.get()
    assert (segment.name, segment.sync_state) == ("Everyone", "error")
    assert segment.sync_error == f"{KEPT_PREFIX}: name: must have at most 200 characters"
    assert (interaction.language, interaction.sync_state) == ("", "error")
    assert interaction.sync_error == f"{KEPT_PREFIX}: language: is not a valid ISO 639-1 language code"
    assert (report["segments"], report["interactions"]) == ({"skipped": 1}, {"skipped": 1})
    assert "deleted" not in report["segments"]  # still on Userbot, if unreadable: not deleted here
    assert not OutboxEntry.objects.exists()


ENVELOPES = [
    ("chatusers.get-bot-segments", "chatusers.segment", {"segments": "not a list"}),
    ("chatusers.get", "chatusers.chatuser", ["a list", "where the page belongs"]),
    ("chatusers.get-feedback", "chatusers.feedback", {"feedback": []}),
    ("automated-messages.get", "automation.automatedmessage", None),
    ("chatusers.get-bot-tags", "chatusers.tag", {"tags": {"id": "t1"}}),
]


@pytest.mark.parametrize(("channel", "label", "payload"), ENVELOPES)
def test_an_answer_that_is_no_list_at_all_fails_its_list_alone(
    bot, raw_ws, sandbox, userbot, channel, label, payload
):
    seed(raw_ws, sandbox)
    userbot.tamper(channel, with_payload(payload))

    pull_bot(bot)

    error = BotSync.objects.get(bot=bot).pull_error
    assert error.startswith(f"{label}: ") and "the answer is not valid" in error, error
    assert {c: n for c, n in mirrored().items() if c != channel} == {
        c: n for c, n in ALL_MIRRORED.items() if c != channel
    }


def test_the_sync_page_and_manage_py_sync_show_the_skipped_objects(bot, raw_ws, userbot, admin_client):
    ids = make_chatusers(raw_ws, "Ada", "Bob")
    userbot.tamper("chatusers.get", on_item("chatusers", by_name("Bob"), lambda u: {**u, "language": "xx"}))
    out, err = StringIO(), StringIO()

    call_command("sync", "--bot", SITEKEY, "--pull", stdout=out, stderr=err)
    page = admin_client.get(f"/admin/sync/botsync/{bot.pk}/change/")

    line = f"Pull: skipped chatusers {ids['Bob']}: language: is not a valid ISO 639-1 language code"
    assert line in err.getvalue().splitlines()
    assert "chatusers: created 1, skipped 1" in out.getvalue()
    html = page.content.decode()
    assert (
        f"<li>chatusers <code>{ids['Bob']}</code>: language: is not a valid ISO 639-1 language code</li>"
        in html
    )
    assert "<div>chatusers: created 1, skipped 1</div>" in html


# --- 4. answers to creates are matched to requests by client_ref ----------------------------


def local_chatusers(bot: Any, n: int) -> list[ChatUser]:
    users = [
        ChatUser.objects.create(bot=bot, name=f"Local{i}", email=f"local{i}@example.com") for i in range(n)
    ]
    mark_changed(users)
    return users


def remote_by_ref(ws: RawWs) -> dict[str, dict[str, Any]]:
    return {u["client_ref"]: u for u in ws.ok("chatusers.get", {"offset": 0, "limit": 100})["chatusers"]}


def test_created_chat_users_are_matched_to_their_requests_by_client_ref_not_by_position(bot, raw_ws, userbot):
    users = local_chatusers(bot, 3)
    userbot.tamper("chatusers.create", on_items("chatusers", lambda created: created[::-1]))

    report = push_pending(bot)

    assert (report.sent, report.retrying, report.dead) == (3, 0, 0)
    remote = remote_by_ref(raw_ws)
    for user in users:
        user.refresh_from_db()
        assert (user.remote_id, user.sync_state) == (remote[user.client_ref]["id"], "synced")
        assert remote[user.client_ref]["name"] == user.name


@pytest.mark.parametrize(
    ("change", "counts"),
    [
        (lambda created: [created[0], created[0], created[1]], "1 missing, 1 repeated, 0 not asked for"),
        (lambda created: created[:2], "1 missing, 0 repeated, 0 not asked for"),
        (
            lambda created: [*created[:2], {**created[2], "client_ref": "someone-else"}],
            "1 missing, 0 repeated, 1 not asked for",
        ),
        (lambda created: [*created, created[0]], "0 missing, 1 repeated, 0 not asked for"),
    ],
)
def test_a_create_answer_that_does_not_hold_each_request_once_records_no_remote_id(
    bot, raw_ws, userbot, change, counts
):
    users = local_chatusers(bot, 3)
    userbot.tamper("chatusers.create", on_items("chatusers", change), times=1)

    report = push_pending(bot)

    assert (report.sent, report.retrying, report.dead) == (0, 3, 0)
    assert not ChatUser.objects.filter(sync__remote_id__isnull=False).exists()
    errors = set(OutboxEntry.objects.values_list("state", "last_error"))
    assert errors == {
        (
            "pending",
            "Userbot's answer to chatusers.create does not hold each chat user asked for exactly once"
            f" ({counts}); nothing was recorded from it",
        )
    }

    OutboxEntry.objects.update(next_attempt_at=None)
    again = push_pending(bot)

    assert (again.sent, again.retrying, again.dead) == (3, 0, 0)
    remote = remote_by_ref(raw_ws)
    assert len(remote) == 3  # the repeat made none twice
    for user in users:
        user.refresh_from_db()
        assert user.remote_id == remote[user.client_ref]["id"]


def test_a_created_chat_user_whose_answer_is_not_valid_goes_to_the_dead_letters_alone(bot, raw_ws, userbot):
    first, second = local_chatusers(bot, 2)
    userbot.tamper(
        "chatusers.create",
        on_item(
            "chatusers",
            lambda u: u["client_ref"] == second.client_ref,
            lambda u: {**u, "email": "a" * 250 + "@example.com"},
        ),
    )

    report = push_pending(bot)

    assert (report.sent, report.retrying, report.dead) == (1, 0, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.remote_id is not None and first.sync_state == "synced"
    assert (second.remote_id, second.sync_state) == (None, "error")
    entry = OutboxEntry.objects.get()
    assert (entry.object_id, entry.state) == (second.pk, "dead")
    assert entry.last_error == (
        "Userbot's answer for it is not valid (email: must have at most 254 characters);"
        " nothing was recorded from it"
    )


CREATES = {
    "segment": ("chatusers.create-segment", Segment),
    "interaction": ("qeafilter.save", Interaction),
    "automated message": ("automated-messages.save", AutomatedMessage),
}


def make_local(what: str, bot: Any, operator: Any) -> Any:
    if what == "segment":
        return chatuser_services.segment_create(bot=bot, name="VIPs", match="all", filters=[], actor=operator)
    if what == "interaction":
        return knowledge_services.interaction_create(
            bot=bot, label="refund", question="Refund?", answer="Yes.", actor=operator
        )
    return automation_services.automated_message_create(
        bot=bot, name="Hello", trigger="page_visit", conditions=[], answers=[], actor=operator
    )


@pytest.mark.parametrize("what", sorted(CREATES))
def test_a_single_create_answered_with_another_object_records_no_remote_id(
    bot, raw_ws, userbot, operator, what
):
    channel, model = CREATES[what]
    obj = make_local(what, bot, operator)
    userbot.tamper(channel, on_payload(lambda created: {**created, "client_ref": "someone-else"}), times=1)

    report = push_pending(bot)

    obj.refresh_from_db()
    assert (report.sent, report.retrying, report.dead) == (0, 1, 0)
    assert obj.remote_id is None
    entry = OutboxEntry.objects.get()
    assert entry.last_error == (
        "Userbot answered the create with another object"
        f" (client_ref 'someone-else', not {obj.client_ref!r}); nothing was recorded from it"
    )

    OutboxEntry.objects.update(next_attempt_at=None)
    again = push_pending(bot)

    obj.refresh_from_db()
    assert (again.sent, obj.sync_state) == (1, "synced")
    assert obj.remote_id is not None
    assert model.objects.count() == 1


def test_a_single_create_answered_with_an_object_that_is_not_valid_goes_to_the_dead_letters(
    bot, raw_ws, userbot, operator
):
    segment = make_local("segment", bot, operator)
    userbot.tamper("chatusers.create-segment", on_payload(lambda created: {**created, "count": -1}))

    report = push_pending(bot)

    segment.refresh_from_db()
    assert (report.sent, report.retrying, report.dead) == (0, 0, 1)
    assert (segment.remote_id, segment.sync_state) == (None, "error")
    assert OutboxEntry.objects.get().last_error == (
        "Userbot's answer to chatusers.create-segment is not valid (count: must be at least 0);"
        " nothing was recorded from it"
    )


@pytest.mark.parametrize("address", EMAILS)
def test_the_pull_s_email_check_agrees_with_djangos_validate_email(address: str) -> None:
    try:
        validate_email(address)
        expected = ""
    except ValidationError:
        expected = "is not a valid email address"

    assert email_problem(address) == expected
