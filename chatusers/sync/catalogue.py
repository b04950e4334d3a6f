"""Lists Userbot keeps and the back office only mirrors: chat users' feedback and the bot's
variable catalogue.

Nothing here changes them, so they never have outbox entries and their ``push`` is never
called; a pull makes the local copy equal to Userbot's list: new rows added, changed ones
updated, rows Userbot no longer lists removed (when the list read is complete).
"""

from __future__ import annotations

from django.db import transaction

from backoffice.sync.kinds import Failure, PullContext, PushItem, SyncKind, fail_all, parse_time, register
from backoffice.sync.reading import read_list, read_pages
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from chatusers.models import BotVariable, ChatUserSync, Feedback

READ_ONLY = "is read from Userbot and never sent to it"
FEEDBACK_FIELDS = ("chatuser_id", "chatuser_remote_id", "session_id", "rating", "comment", "created_at")


class ReadOnlyKind(SyncKind):
    """A kind mirrored from Userbot only: nothing here queues it or holds conflicts on it,
    so it has no documents of its own, and a push is refused for good."""

    def push(self, client: UserbotClient, items: list[PushItem]) -> None:
        fail_all(items, Failure(f"{self.model._meta.verbose_name} {READ_ONLY}", transient=False))


class BotVariableKind(ReadOnlyKind):
    label = "chatusers.botvariable"
    model = BotVariable  # type: ignore[assignment]
    pull_order = 50

    def pull(self, ctx: PullContext) -> None:
        listing = read_list(ctx.client, api.bot_get_vars(), "variables", times=())
        for rejected in listing.rejected:
            ctx.skip("bot_variables", rejected)
        remote = {v["name"]: v["type"] for v in listing.objects}
        existing = {v.name: v for v in BotVariable.objects.filter(bot=ctx.bot)}
        new = [
            BotVariable(bot=ctx.bot, name=name, type=kind)
            for name, kind in remote.items()
            if name not in existing
        ]
        changed = [v for name, v in existing.items() if name in remote and v.type != remote[name]]
        for variable in changed:
            variable.type = remote[variable.name]
        # A variable is named by its name alone: one whose entry was skipped may be any of the
        # names not listed, so none of them goes this time.
        gone = [v.pk for name, v in existing.items() if name not in remote] if not listing.rejected else []
        if listing.rejected:
            ctx.count("bot_variables", "deletions_deferred")
        with transaction.atomic():
            BotVariable.objects.bulk_create(new)
            BotVariable.objects.bulk_update(changed, ["type"])
            BotVariable.objects.filter(pk__in=gone).delete()
        ctx.count("bot_variables", "created", len(new))
        ctx.count("bot_variables", "updated", len(changed))
        ctx.count("bot_variables", "deleted", len(gone))


class FeedbackKind(ReadOnlyKind):
    label = "chatusers.feedback"
    model = Feedback  # type: ignore[assignment]
    pull_order = 60  # after chat users, whom feedback links to

    def pull(self, ctx: PullContext) -> None:
        listing = read_pages(ctx.client, api.chatusers_get_feedback, "feedback", times=("created_at",))
        for rejected in listing.rejected:
            ctx.skip("feedback", rejected)
        chatusers = dict(
            ChatUserSync.objects.filter(
                bot=ctx.bot, remote_id__in={f["chatuser_id"] for f in listing.objects}
            ).values_list("remote_id", "pk")
        )
        existing = {f.remote_id: f for f in Feedback.objects.filter(bot=ctx.bot)}
        new, changed = [], []
        for remote in listing.objects:
            values = {
                "chatuser_id": chatusers.get(remote["chatuser_id"]),
                "chatuser_remote_id": remote["chatuser_id"],
                "session_id": remote["session_id"],
                "rating": remote["rating"],
                "comment": remote["comment"],
                "created_at": parse_time(remote["created_at"]),
            }
            local = existing.get(remote["id"])
            if local is None:
                new.append(Feedback(bot=ctx.bot, remote_id=remote["id"], **values))
            elif any(getattr(local, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(local, name, value)
                changed.append(local)
        seen = {f["id"] for f in listing.objects} | {r.id for r in listing.rejected if r.id}
        gone = [f.pk for rid, f in existing.items() if rid not in seen] if listing.complete else []
        with transaction.atomic():
            Feedback.objects.bulk_create(new, batch_size=1000)
            Feedback.objects.bulk_update(changed, list(FEEDBACK_FIELDS), batch_size=1000)
            Feedback.objects.filter(pk__in=gone).delete()
        ctx.count("feedback", "created", len(new))
        ctx.count("feedback", "updated", len(changed))
        ctx.count("feedback", "deleted", len(gone))
        if not listing.complete:
            ctx.count("feedback", "deletions_deferred")


register(BotVariableKind())
register(FeedbackKind())
