import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import ChatUserFactory, SegmentFactory, TagFactory
from tests.factories_content import AutomatedMessageFactory, InteractionFactory, UserFactory

pytestmark = pytest.mark.django_db

roles_migration = importlib.import_module("automation.migrations.0002_roles")

ALL = ("add", "change", "delete", "view")
CHAT_USER_PAGE = {"chatuser", "chatusertag", "tag", "variable", "botvariable"}
# Operators run CSV imports, so the import's history, mappings and undo records are theirs.
CHAT_USER_MODELS = CHAT_USER_PAGE | {"segment", "segmentfilter", "importjob", "importmapping", "importchange"}
AUTOMATION_MODELS = {"automatedmessage", "condition", "answer", "button"}
INSIGHTS_MODELS = {
    "daystats",
    "daynps",
    "daysales",
    "rangetotals",
    "audience",
    "accountbots",
    "insightsstate",
}


def _codes(models, actions) -> set[str]:
    return {f"{action}_{model}" for model in models for action in actions}


def _granted(name: str) -> set[str]:
    return set(Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename"))


def test_the_migration_creates_each_role_with_exactly_its_permissions():
    view_content = {("knowledge", "view_interaction")} | {
        ("automation", code) for code in _codes(AUTOMATION_MODELS, ["view"])
    }
    view_chat_users = {("chatusers", code) for code in _codes(CHAT_USER_PAGE, ["view"])}

    answer_chats = {("livechat", "view_chataction"), ("livechat", "answer_chats")}
    view_insights = {("insights", code) for code in _codes(INSIGHTS_MODELS, ["view"])}

    assert sorted(Group.objects.values_list("name", flat=True)) == [
        "automation editor",
        "chat agent",
        "knowledge editor",
        "operator",
        "viewer",
    ]
    assert _granted("operator") == (
        {("chatusers", code) for code in _codes(CHAT_USER_MODELS, ALL)}
        | {("chatusers", "view_feedback")}
        | view_content
        | {("sync", code) for code in ("view_botsync", "change_botsync", "view_syncconflict")}
        | {("sync", code) for code in ("change_syncconflict", "view_outboxentry", "change_outboxentry")}
        | {("sync", "delete_outboxentry")}
        | answer_chats
        | view_insights
        | {("leads", code) for code in _codes(["lead", "leadtag", "leaddetails"], ALL)}
        | {("meetings", code) for code in _codes(["meeting"], ALL)}
    )
    assert _granted("chat agent") == view_chat_users | {("chatusers", "view_feedback")} | answer_chats
    assert _granted("knowledge editor") == {("knowledge", code) for code in _codes(["interaction"], ALL)} | (
        view_chat_users
    )
    assert _granted("automation editor") == {
        ("automation", code) for code in _codes(AUTOMATION_MODELS, ALL)
    } | (view_chat_users)
    assert _granted("viewer") == {
        (model._meta.app_label, f"view_{model._meta.model_name}")
        for label in (
            "userbot",
            "sync",
            "chatusers",
            "knowledge",
            "automation",
            "livechat",
            "insights",
            "leads",
            "meetings",
        )
        for model in apps.get_app_config(label).get_models()
        if model._meta.default_permissions  # none for a chat user's sync record: read with it
    }
    assert view_insights <= _granted("viewer")


def test_running_the_roles_migration_again_changes_nothing():
    before = {group.name: _granted(group.name) for group in Group.objects.all()}

    roles_migration.create_roles(apps, SimpleNamespace(connection=connection))

    assert {group.name: _granted(group.name) for group in Group.objects.all()} == before


# What each role may do on each admin page: "edit", "view", or nothing (None).
ACCESS = {
    "operator": {
        "chatuser": "edit",
        "segment": "edit",
        "tag": "edit",
        "feedback": "view",
        "interaction": "view",
        "automatedmessage": "view",
    },
    "knowledge editor": {
        "chatuser": "view",
        "segment": None,
        "tag": "view",
        "feedback": None,
        "interaction": "edit",
        "automatedmessage": None,
    },
    "automation editor": {
        "chatuser": "view",
        "segment": None,
        "tag": "view",
        "feedback": None,
        "interaction": None,
        "automatedmessage": "edit",
    },
    "viewer": {
        "chatuser": "view",
        "segment": "view",
        "tag": "view",
        "feedback": "view",
        "interaction": "view",
        "automatedmessage": "view",
    },
}
PAGES = {
    "chatuser": ("chatusers", ChatUserFactory),
    "segment": ("chatusers", SegmentFactory),
    "tag": ("chatusers", TagFactory),
    "feedback": ("chatusers", None),
    "interaction": ("knowledge", InteractionFactory),
    "automatedmessage": ("automation", AutomatedMessageFactory),
}
CASES = [(role, page, access) for role, pages in ACCESS.items() for page, access in pages.items()]


def _actions_allowed(model_name: str, app_label: str, access: str) -> set[str]:
    """The actions of a page whose required permissions the access level holds."""
    model_admin = admin.site._registry[apps.get_model(app_label, model_name)]
    request = RequestFactory().get("/")
    request.user = UserFactory(username="root", is_superuser=True)
    held = set(ALL) if access == "edit" else {"view"}
    return {
        name
        for func, name, _ in model_admin.get_actions(request).values()
        if set(getattr(func, "allowed_permissions", ())) <= held
    }


@pytest.mark.parametrize(("role", "page", "access"), CASES, ids=[f"{r}-{p}" for r, p, _ in CASES])
def test_each_role_sees_and_changes_exactly_what_it_should(client, role, page, access):
    app_label, factory = PAGES[page]
    user = UserFactory()
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    obj = factory(remote_id=None) if factory is TagFactory else (factory() if factory else None)
    changelist = reverse(f"admin:{app_label}_{page}_changelist")
    add = reverse(f"admin:{app_label}_{page}_add")
    change = reverse(f"admin:{app_label}_{page}_change", args=[obj.pk]) if obj else None

    listed = client.get(changelist)

    if access is None:
        assert listed.status_code == 403
        assert client.get(add).status_code == 403
        if change:
            assert client.get(change).status_code == 403
        return
    assert listed.status_code == 200
    action_form = listed.context["action_form"]
    shown = {name for name, _ in action_form.fields["action"].choices if name} if action_form else set()
    assert shown == _actions_allowed(page, app_label, access)
    if page == "feedback":
        assert client.get(add).status_code == 403  # only Userbot writes feedback
        return
    assert client.get(add).status_code == (200 if access == "edit" else 403)
    shown_change = client.get(change)
    assert shown_change.status_code == 200
    assert shown_change.context["has_change_permission"] is (access == "edit")


def test_a_viewer_cannot_run_the_bulk_actions_by_posting_them(client):
    interaction = InteractionFactory(enabled=True)
    user = UserFactory()
    user.groups.add(Group.objects.get(name="viewer"))
    client.force_login(user)

    client.post(
        reverse("admin:knowledge_interaction_changelist"),
        {"action": "disable_selected", "_selected_action": [interaction.pk]},
    )
    client.post(
        reverse("admin:knowledge_interaction_changelist"),
        {"action": "delete_selected", "_selected_action": [interaction.pk], "post": "yes"},
    )

    interaction.refresh_from_db()
    assert interaction.enabled is True
