"""The models as an operator thinks of them: people, knowledge, automation, sync, imports.

Django's index lists apps, which follow how the code is cut (chat users, segments and tags
in one app, the sync engine's tables in another). The site shows these groups instead, on
the index, in the sidebar and in the breadcrumbs; a model no group names stays under its
app, after the groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse

# Entries that are a page of a model's admin rather than the model itself.
DEAD_LETTERS = "sync.outboxentry:dead"


@dataclass(frozen=True)
class Group:
    slug: str
    name: str
    # Model labels (app_label.model_name) or page keys, in the order the group lists them,
    # each with the name an operator reads.
    entries: tuple[tuple[str, str], ...]


GROUPS: tuple[Group, ...] = (
    Group(
        "people",
        "People",
        (
            ("chatusers.chatuser", "Chat users"),
            ("chatusers.segment", "Segments"),
            ("chatusers.tag", "Tags"),
            ("chatusers.botvariable", "Variable catalogue"),
            ("chatusers.feedback", "Feedback"),
            ("leads.lead", "Leads"),
            ("meetings.meeting", "Meetings"),
        ),
    ),
    Group("chats", "Chats", (("livechat.chataction", "Live chats"), ("insights.daystats", "Insights"))),
    Group("knowledge", "Knowledge", (("knowledge.interaction", "Knowledge base"),)),
    Group("automation", "Automation", (("automation.automatedmessage", "Automated messages"),)),
    Group(
        "sync",
        "Sync",
        (
            ("sync.botsync", "Sync status"),
            (DEAD_LETTERS, "Dead letters"),
            ("sync.syncconflict", "Conflicts"),
            ("sync.outboxentry", "Outbox"),
            ("userbot.bot", "Bots"),
        ),
    ),
    Group(
        "imports",
        "Imports",
        (("chatusers.importjob", "Import history"), ("operations.operation", "Operations")),
    ),
    Group(
        "access",
        "Access",
        (
            ("auth.user", "Users"),
            ("auth.group", "Roles"),
            ("axes.accessattempt", "Login attempts"),
            ("axes.accessfailurelog", "Failed logins"),
            ("axes.accesslog", "Logins"),
            ("otp_totp.totpdevice", "Authenticator apps"),
            ("otp_static.staticdevice", "Recovery codes"),
        ),
    ),
)
GROUP_OF_MODEL = {label: group for group in GROUPS for label, _ in group.entries if ":" not in label}
# Models no group lists: an operator's saved views are the sidebar's first group instead.
UNLISTED = frozenset({"admin_site.savedview"})


def group_url(group: Group) -> str:
    return reverse("admin:group_index", kwargs={"slug": group.slug})


def _page_entry(key: str, model: dict[str, Any], name: str) -> dict[str, Any] | None:
    """An entry for a page of a model's admin, from that model's entry."""
    label, _, page = key.partition(":")
    app_label, _, model_name = label.partition(".")
    try:
        url = reverse(f"admin:{app_label}_{model_name}_{page}")
    except NoReverseMatch:
        return None
    return {
        **model,
        "name": name,
        "object_name": f"{model['object_name']}_{page}",
        "admin_url": url,
        "add_url": None,
    }


def grouped(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Django's app list (what a user may see) regrouped by ``GROUPS``, shaped like apps so
    the admin's own templates draw it; apps with models no group names come after."""
    models: dict[str, dict[str, Any]] = {}
    for app in app_list:
        for model in app["models"]:
            models[model["model"]._meta.label_lower] = model
    result = []
    for group in GROUPS:
        entries = []
        for key, name in group.entries:
            model = models.get(key.partition(":")[0])
            if model is None:
                continue
            if ":" in key:
                entry = _page_entry(key, model, name)
                if entry is not None:
                    entries.append(entry)
            else:
                entries.append({**model, "name": name})
        if entries:
            result.append(
                {
                    "name": group.name,
                    "app_label": group.slug,
                    "app_url": group_url(group),
                    "has_module_perms": True,
                    "models": entries,
                }
            )
    for app in app_list:
        rest = [
            m
            for m in app["models"]
            if m["model"]._meta.label_lower not in GROUP_OF_MODEL
            and m["model"]._meta.label_lower not in UNLISTED
        ]
        if rest:
            result.append({**app, "models": rest})
    return result
