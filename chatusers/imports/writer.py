"""Writing a decided chunk of an import: the rows every writer writes, and the writer for
any database Django supports (``PortableWriter``: ``bulk_create`` / ``bulk_update``).

Every writer writes the same rows: chat users, their tags and variables, one
``ImportChange`` (with the before-image of a changed one) for undo, and marks each created
or changed chat user for Userbot (never an unchanged one) through the sync engine's one
marking statement, ``mark_changed_ids``, which wakes the relay once the chunk commits.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.sync.outbox import mark_changed_ids
from chatusers.import_models import ImportChange, ImportJob
from chatusers.imports.plan import CREATE_COLUMNS, Create, Options, Plan
from chatusers.models import ChatUser, ChatUserTag, Tag, Variable


class Writer:
    """Writes a decided chunk; returns the created rows it could not insert (a key taken
    concurrently), which the caller reports as rejected."""

    def __init__(self, options: Options) -> None:
        self.options = options

    def write(self, plan: Plan, tag_ids: dict[str, int], new_tag_names: dict[str, str]) -> list[Create]:
        self._create_tags(tag_ids, new_tag_names)
        lost, created_ids = self.insert_chatusers(plan)
        created = [
            (pk, create) for create, pk in zip(plan.creates, created_ids, strict=True) if pk is not None
        ]
        if created:
            self.finish_created(
                [pk for pk, _ in created],
                [(pk, tag_ids[name]) for pk, create in created for name in create.tag_names],
                [(pk, name, value) for pk, create in created for name, value in create.variables.items()],
            )
        updated_ids = [pk for pk, _ in plan.updates]
        if updated_ids:
            now = timezone.now()
            self.update_chatusers([(pk, changes) for pk, changes in plan.updates if changes], now)
            self.remove_tags([(pk, tag_ids_of(tag, tag_ids)) for pk, tag in plan.tags_removed])
            self.add_tags([(pk, tag_ids_of(tag, tag_ids)) for pk, tag in plan.tags_added])
            self.set_variables(plan.variables_set)
            self.touch(updated_ids, now)
            self.record([(pk, False, before) for pk, before in plan.changed_before.items()])
        # One marking for the chunk, created and changed alike: the created are pending
        # already, and no second entry joins one an object has.
        mark_changed_ids(ChatUser, self.options.bot_id, [*(pk for pk, _ in created), *updated_ids])
        return lost

    def finish_created(
        self, ids: list[int], tags: list[tuple[int, int]], variables: list[tuple[int, str, str]]
    ) -> None:
        """The tags, variables and undo rows of the chat users this chunk created. Being new,
        they can hold no tag or variable yet."""
        self.add_tags(tags)
        self.set_variables(variables)
        self.record([(pk, True, None) for pk in ids])

    def _create_tags(self, tag_ids: dict[str, int], new_tag_names: dict[str, str]) -> None:
        if not new_tag_names:
            return
        Tag.objects.bulk_create(
            [Tag(bot_id=self.options.bot_id, name=name) for name in new_tag_names.values()],
            ignore_conflicts=True,
        )
        created = []
        for tag_id, lower in (
            Tag.objects.filter(bot_id=self.options.bot_id)
            .annotate(name_lower=Lower("name"))
            .filter(name_lower__in=list(new_tag_names))
            .values_list("id", "name_lower")
        ):
            stand_in = tag_ids[lower]
            tag_ids[lower] = tag_id
            tag_ids[str(stand_in)] = tag_id
            created.append(tag_id)
        new_tag_names.clear()
        # Kept with the job, in the chunk's transaction, for its undo.
        job = ImportJob.objects.select_for_update().only("created_tags").get(pk=self.options.job_id)
        job.created_tags = sorted({*job.created_tags, *created})
        job.save(update_fields=["created_tags"])

    def insert_chatusers(self, plan: Plan) -> tuple[list[Create], list[int | None]]:
        raise NotImplementedError

    def update_chatusers(self, rows: list[tuple[int, dict[str, Any]]], now: Any) -> None:
        raise NotImplementedError

    def add_tags(self, pairs: list[tuple[int, int]]) -> None:
        raise NotImplementedError

    def remove_tags(self, pairs: list[tuple[int, int]]) -> None:
        if not pairs:
            return
        condition = Q()
        by_tag: dict[int, list[int]] = {}
        for pk, tag in pairs:
            by_tag.setdefault(tag, []).append(pk)
        for tag, pks in by_tag.items():
            condition |= Q(tag_id=tag, chatuser_id__in=pks)
        ChatUserTag.objects.filter(condition).delete()

    def set_variables(self, rows: list[tuple[int, str, str]]) -> None:
        raise NotImplementedError

    def touch(self, ids: list[int], now: Any) -> None:
        if ids:
            ChatUser.objects.filter(pk__in=ids).update(updated_at=now)

    def record(self, changes: list[tuple[int, bool, str | None]]) -> None:
        """Undo rows: (chat user id, created, the before-image's JSON or None)."""
        raise NotImplementedError


def tag_ids_of(tag: int, tag_ids: dict[str, int]) -> int:
    """A real tag id for ``tag``, which may be the stand-in of a tag created since."""
    return tag_ids.get(str(tag), tag) if tag < 0 else tag


class PortableWriter(Writer):
    """bulk_create / bulk_update: any database Django supports."""

    def insert_chatusers(self, plan: Plan) -> tuple[list[Create], list[int | None]]:
        objects = [
            ChatUser(bot_id=self.options.bot_id, **dict(zip(CREATE_COLUMNS, create.values, strict=True)))
            for create in plan.creates
        ]
        ChatUser.objects.bulk_create(objects, batch_size=500)
        if objects and objects[0].pk is None:
            ids = dict(
                ChatUser.objects.filter(
                    bot_id=self.options.bot_id, client_ref__in=[o.client_ref for o in objects]
                ).values_list("client_ref", "id")
            )
            return [], [ids[o.client_ref] for o in objects]
        return [], [o.pk for o in objects]

    def update_chatusers(self, rows: list[tuple[int, dict[str, Any]]], now: Any) -> None:
        by_fields: dict[tuple[str, ...], list[ChatUser]] = {}
        for pk, changes in rows:
            by_fields.setdefault(tuple(sorted(changes)), []).append(
                ChatUser(pk=pk, **changes, updated_at=now)
            )
        for names, objects in by_fields.items():
            ChatUser.objects.bulk_update(objects, [*names, "updated_at"], batch_size=500)

    def add_tags(self, pairs: list[tuple[int, int]]) -> None:
        ChatUserTag.objects.bulk_create(
            [ChatUserTag(chatuser_id=pk, tag_id=tag) for pk, tag in pairs],
            ignore_conflicts=True,
            batch_size=500,
        )

    def set_variables(self, rows: list[tuple[int, str, str]]) -> None:
        Variable.objects.bulk_create(
            [Variable(chatuser_id=pk, name=name, value=value) for pk, name, value in rows],
            update_conflicts=True,
            unique_fields=["chatuser", "name"],
            update_fields=["value"],
            batch_size=500,
        )

    def record(self, changes: list[tuple[int, bool, str | None]]) -> None:
        ImportChange.objects.bulk_create(
            [
                ImportChange(
                    job_id=self.options.job_id,
                    chatuser_id=pk,
                    created=created,
                    before=None if before is None else orjson.loads(before),
                )
                for pk, created, before in changes
            ],
            batch_size=500,
        )
