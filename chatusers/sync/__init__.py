"""How chat users travel between the back office and Userbot (see ``push`` and ``pull``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backoffice.sync.kinds import PullContext, PushItem, SyncKind, register
from backoffice.sync.merge import Doc
from backoffice.userbot import api
from backoffice.userbot.client import UserbotClient
from chatusers.models import ChatUser
from chatusers.sync.documents import TagBook, local_docs
from chatusers.sync.pull import Scan
from chatusers.sync.push import push_chatusers


class ChatUserKind(SyncKind):
    label = "chatusers.chatuser"
    model = ChatUser
    pull_order = 10  # tags and chat users first: segments refer to tag ids

    def local_docs(self, objects: Sequence[Any]) -> dict[int, Doc]:
        return local_docs(objects)

    def push(self, client: UserbotClient, items: list[PushItem]) -> None:
        push_chatusers(client, items)

    def pull(self, ctx: PullContext) -> None:
        book = TagBook(ctx.bot)
        ctx.count("tags", "new", book.learn(ctx.client.call(api.chatusers_get_bot_tags())["tags"]))
        Scan(ctx, book).run()


register(ChatUserKind())
