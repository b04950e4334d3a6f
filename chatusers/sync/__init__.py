"""How chat users travel between the back office and Userbot (see ``push`` and ``pull``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backoffice.sync.kinds import PullContext, PushItem, SyncKind, register, register_mapper
from backoffice.sync.merge import Doc
from backoffice.userbot.client import UserbotClient
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable
from chatusers.sync import catalogue, segments  # noqa: F401  (registers the segment and read-only kinds)
from chatusers.sync.documents import FIELDS, VAR, local_docs
from chatusers.sync.events import refresh_chatusers
from chatusers.sync.pull import Scan
from chatusers.sync.push import push_chatusers
from chatusers.sync.tags import TagBook, tag_conditions


class TagKind(SyncKind):
    """Userbot's tags, mirrored before everything that names them by id (chat users, segments,
    automated messages). A tag reaches Userbot with the chat users that carry it
    (``add-tag``), never on its own, so it has no outbox entries and no push."""

    label = "chatusers.tag"
    model = Tag  # type: ignore[assignment]
    pull_order = 5

    def pull(self, ctx: PullContext) -> None:
        book = TagBook(ctx.bot)
        listing = book.read(ctx.client)
        ctx.count("tags", "new", book.new)
        for rejected in listing.rejected:
            ctx.skip("tags", rejected)


class ChatUserKind(SyncKind):
    label = "chatusers.chatuser"
    model = ChatUser
    pull_order = 10  # after the tags, before segments: both refer to tag ids
    topic, event = "chatusers", "chatusers.changed"
    push_fields = ("bot", *FIELDS, "client_ref")  # and the sync record

    def local_docs(self, objects: Sequence[Any]) -> dict[int, Doc]:
        return local_docs(objects)

    def push(self, client: UserbotClient, items: list[PushItem]) -> None:
        push_chatusers(client, items)

    def pull(self, ctx: PullContext) -> None:
        Scan(ctx, TagBook(ctx.bot)).run()

    def refresh(self, bot: Any, events: list[dict[str, Any]], *, client: UserbotClient) -> dict[str, int]:
        return refresh_chatusers(bot, events, client=client)

    def set_local(self, obj: Any, changes: Doc) -> None:
        fields = {k: v for k, v in changes.items() if k in FIELDS}
        for field, value in fields.items():
            setattr(obj, field, value)
        if fields:
            obj.save(update_fields=[*fields, "updated_at"])
        for key, value in changes.items():
            if key.startswith(VAR):
                name = key[len(VAR) :]
                if value is None:
                    Variable.objects.filter(chatuser=obj, name=name).delete()
                else:
                    Variable.objects.update_or_create(chatuser=obj, name=name, defaults={"value": value})
        if "tags" in changes:
            book = TagBook(obj.bot)
            ChatUserTag.objects.filter(chatuser=obj).delete()
            ChatUserTag.objects.bulk_create(
                ChatUserTag(chatuser=obj, tag=book.by_name[n]) for n in changes["tags"]
            )


register(TagKind())
register(ChatUserKind())
register_mapper("tags", tag_conditions)
