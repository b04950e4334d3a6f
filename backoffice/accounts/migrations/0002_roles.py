"""The back office's roles, as Django groups with exactly their permissions.

The roles are the accounts' (who may do what), over the models of every app, so they are
made here, after each app's latest migration. The permissions are created first (Django
would only create them after every migration has run), and each group is given exactly its
permissions, so running this again, or on a database where the groups already exist, ends
in the same state. Databases that ran the automation migrations which made the roles before
(``automation`` 0002 to 0004, now empty) come out of this one unchanged, save a permission
granted or withdrawn there by hand, which is set back to the role's, as each of those did.

A model added later joins the roles by a migration that runs ``create_roles`` again after
it, as automation 0003 and 0004 did.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = (
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
ALL = ("add", "change", "delete", "view")

# What the page of a chat user shows: the chat user, its tags and its variables.
CHAT_USER_PAGE = ("chatuser", "chatusertag", "tag", "variable", "botvariable")


def _grants(apps):
    """Each role's permissions as (app_label, codename) pairs."""

    def every(app_label, models, actions):
        return {(app_label, f"{action}_{model}") for model in models for action in actions}

    def models_of(app_label):
        # A model without permissions of its own (a chat user's sync record) is no role's.
        return [
            model._meta.model_name
            for model in apps.get_app_config(app_label).get_models()
            if model._meta.default_permissions
        ]

    chatusers = [name for name in models_of("chatusers") if name != "feedback"]
    view_knowledge = every("knowledge", models_of("knowledge"), ["view"])
    view_automation = every("automation", models_of("automation"), ["view"])
    view_chat_users = every("chatusers", CHAT_USER_PAGE, ["view"])
    return {
        "operator": every("chatusers", chatusers, ALL)
        | every("chatusers", ["feedback"], ["view"])
        | view_knowledge
        | view_automation
        | _operate_sync(apps, every)
        | _live_chat(apps, answer=True)
        | _view_insights(apps, every)
        | _leads(apps, every)
        | _meetings(apps, every),
        "chat agent": view_chat_users
        | every("chatusers", ["feedback"], ["view"])
        | _live_chat(apps, answer=True),
        "knowledge editor": every("knowledge", models_of("knowledge"), ALL) | view_chat_users,
        "automation editor": every("automation", models_of("automation"), ALL) | view_chat_users,
        "viewer": set().union(
            *(every(label, models_of(label), ["view"]) for label in APPS if _has(apps, label))
        ),
    }


def _has(apps, app_label):
    """Whether the app's models exist at this point of the migrations."""
    try:
        return any(True for _ in apps.get_app_config(app_label).get_models())
    except LookupError:
        return False


def _live_chat(apps, *, answer):
    """Reading live chats, and with ``answer`` taking them over and replying; only once the
    live chat's models exist (accounts 0004 runs this again after them)."""
    if not _has(apps, "livechat"):
        return set()
    grants = {("livechat", "view_chataction")}
    return grants | {("livechat", "answer_chats")} if answer else grants


def _view_insights(apps, every):
    """Reading a bot's numbers and how collecting them goes; only once the insights' models
    exist (accounts 0005 runs this again after them)."""
    if not _has(apps, "insights"):
        return set()
    return every(
        "insights",
        [model._meta.model_name for model in apps.get_app_config("insights").get_models()],
        ["view"],
    )


def _meetings(apps, every):
    """Scheduling, declining and settling meetings with chat users; only once the meetings'
    model exists (viewers read them through ``APPS``)."""
    if not _has(apps, "meetings"):
        return set()
    return every("meetings", ["meeting"], ALL)


def _leads(apps, every):
    """Every change of leads (their tags: Userbot makes and lists them); only once the
    leads' models exist (viewers read them through ``APPS``)."""
    if not _has(apps, "leads"):
        return set()
    return every(
        "leads", [model._meta.model_name for model in apps.get_app_config("leads").get_models()], ALL
    )


def _operate_sync(apps, every):
    """Operators keep the sync running: bots' sync settings, conflicts, and the dead-letter
    list (ignoring a dead letter deletes it). Only once the sync's models exist."""
    present = {model._meta.model_name for model in apps.get_app_config("sync").get_models()}
    wanted = {
        "botsync": ["view", "change"],
        "syncconflict": ["view", "change"],
        "outboxentry": ["view", "change", "delete"],
    }
    return set().union(
        *(every("sync", [model], actions) for model, actions in wanted.items() if model in present)
    )


def create_roles(apps, schema_editor):
    using = schema_editor.connection.alias
    for label in APPS:
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in _grants(apps).items():
        permissions = [
            Permission.objects.using(using).get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in sorted(grants)
        ]
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(
        name__in=["operator", "knowledge editor", "automation editor", "viewer", "chat agent"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("userbot", "0001_initial"),
        ("sync", "0004_outbox_claim_indexes"),
        ("chatusers", "0004_importjob_created_tags"),
        ("knowledge", "0001_initial"),
        # The last of the automation migrations that made the roles before these.
        ("automation", "0004_roles_cover_sync"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
