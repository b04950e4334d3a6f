"""Pushing claimed chat user changes to Userbot in bulk.

New chat users go out through ``chatusers.create`` (1000 a request, each with its
``client_ref``, so a repeat never makes a second one); field and variable changes through
``chatusers.import`` rows keyed by ``id`` that carry only the changed columns; tag changes
through ``add-tag`` / ``remove-tag``, one request per tag for up to 1000 chat users; local
deletions through ``chatusers.delete``. Only what changed since the last sync is sent, so
a field Userbot changed meanwhile is not overwritten with a stale copy of it. The three
kinds of update touch different parts of a chat user, so they may be pipelined together.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from backoffice.sync.kinds import Failure, PushItem, fail_all, failure_of, push_deletions
from backoffice.sync.merge import Doc, changed_keys, set_delta
from backoffice.sync.reading import ReadFailed
from backoffice.sync.reconcile import Outcome, decide_push
from backoffice.sync.untrusted import checked
from backoffice.userbot import api, schema
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request
from backoffice.userbot.errors import PayloadInvalid, TransportError
from chatusers.sync.documents import FIELDS, TIMES, VAR, chatuser_problems, remote_doc, wire_digest
from chatusers.sync.tags import TagBook

PAGE = 1000
READ_FIRST_MAX = 200  # chat users read before an update; a bulk change is not read first
SEARCH_LIMIT = 50
IMPORT_MAX_BYTES = 8 * 1024 * 1024  # under the 10 MiB frame limit, with room for the JSON around it


def push_chatusers(client: UserbotClient, items: list[PushItem]) -> None:
    """Send deletions, then creates, then updates (of existing and just created chat users)."""
    book = TagBook(items[0].entry.bot)
    _delete(client, [i for i in items if i.deleted])
    live = [i for i in items if not i.deleted and i.obj is not None]
    existing = [i for i in live if i.remote_id]
    _create(client, [i for i in live if not i.remote_id], book)
    _hold_changed_on_both_sides(client, existing, book)
    _update(client, [i for i in live if i.remote_id and not i.error], book)


def _hold_changed_on_both_sides(client: UserbotClient, items: list[PushItem], book: TagBook) -> None:
    """Keep back a change to a field Userbot also changed since the last sync.

    The protocol has no conditional write, so a field changed on both sides would
    otherwise be overwritten without a trace. For the handful of chat users an operator
    edits at a time, each is read first (a search on the email or phone Userbot had);
    one whose same field moved there too fails for now and asks for a pull, which merges
    it under the bot's conflict policy. A bulk change (an import, an action on thousands)
    is not read first: there the next pull records what it finds.
    """
    edited = [i for i in items if any(k != "tags" for k in changed_keys(i.snapshot or {}, i.local or {}))]
    if not edited or len(edited) > READ_FIRST_MAX:
        return
    searches = [(i, (i.snapshot or {}).get("email") or (i.snapshot or {}).get("phone")) for i in edited]
    searches = [(i, term) for i, term in searches if term]
    requests = (api.chatusers_get(offset=0, limit=SEARCH_LIMIT, search=term) for _, term in searches)
    for (item, _), outcome in zip(searches, client.iter_many(requests), strict=True):
        # A read that fails, or that cannot be taken, leaves us no worse off than without
        # it: the pull still compares.
        if failure_of(outcome) is not None:
            continue
        users = _chatusers_of("chatusers.get", outcome.payload)  # type: ignore[union-attr]
        user = next((u for u in users if u["id"] == item.remote_id), None)
        if user is None:
            continue
        base, local = item.snapshot or {}, item.local or {}
        names = _tag_names(client, book, [user])
        if names is None:
            continue
        remote = remote_doc(user, names)
        decision = decide_push(snapshot=base, local=local, remote=remote)
        if decision.outcome is Outcome.HOLD:
            item.hold_for_pull(c.key for c in decision.conflicts)


def _draft(item: PushItem, book: TagBook) -> dict[str, Any]:
    doc = item.local or {}
    draft: dict[str, Any] = {"client_ref": item.obj.client_ref}  # type: ignore[union-attr]
    for field in FIELDS:
        if doc.get(field) not in (None, ""):
            draft[field] = doc[field]
    # Tags Userbot knows go by name here; a tag new to Userbot follows as an add-tag,
    # which carries its colour (a create would give it the server's default colour).
    draft["tags"] = [book.by_name[name].name for name in doc.get("tags", ()) if book.by_name[name].remote_id]
    draft["variables"] = [{"name": k[len(VAR) :], "value": v} for k, v in doc.items() if k.startswith(VAR)]
    return draft


def import_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The text of a ``chatusers.import`` CSV: a header and rows, CRLF, as the contract reads it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _delete(client: UserbotClient, items: list[PushItem]) -> None:
    def find(unconfirmed: list[PushItem]) -> None:
        for batch in _batches(unconfirmed, PAGE):
            refs = [i.entry.client_ref for i in batch]
            outcome = _one(client, api.chatusers_create([{"client_ref": ref} for ref in refs]))
            failure = failure_of(outcome)
            if failure:
                fail_all(batch, failure)
                continue
            for item, remote in _created(batch, refs, outcome.payload):  # type: ignore[union-attr]
                item.remote_id = remote["id"]

    def delete(doomed: list[PushItem]) -> None:
        batches = list(_batches(doomed, PAGE))
        requests = [api.chatusers_delete(ids=[i.remote_id for i in batch]) for batch in batches]
        for batch, outcome in zip(batches, client.iter_many(requests), strict=True):
            failure = failure_of(outcome)
            if failure:
                fail_all(batch, failure)

    push_deletions(items, find=find, delete=delete)


def _create(client: UserbotClient, items: list[PushItem], book: TagBook) -> None:
    todo = items
    while todo:
        batches = list(_batches(todo, PAGE))
        requests = [api.chatusers_create([_draft(i, book) for i in batch]) for batch in batches]
        todo = []
        for batch, outcome in zip(batches, client.iter_many(requests), strict=True):
            failure = failure_of(outcome)
            if failure is None:
                refs = [i.obj.client_ref for i in batch]  # type: ignore[union-attr]
                created = _created(batch, refs, outcome.payload)  # type: ignore[union-attr]
                names = _tag_names(client, book, [remote for _, remote in created])
                for item, remote in created:
                    item.confirm(remote_id=remote["id"])
                    if names is None or any(t not in names for t in remote["tags"]):
                        # Made, and its id is sure; what it holds is read by the next push or pull.
                        item.fail("Created, but its answer names a tag Userbot does not list", transient=True)
                        continue
                    item.confirm(
                        snapshot=remote_doc(remote, names),
                        updated_at=remote["updated_at"],
                        digest=wire_digest(remote),
                    )
                continue
            named = {int(k): v for k, v in failure.fields.items() if str(k).isdigit() and int(k) < len(batch)}
            if failure.transient or not named:
                fail_all(batch, failure)
                continue
            # All or nothing: the items it names are refused for good; the rest go again.
            for index, item in enumerate(batch):
                if index in named:
                    item.fail(f"Userbot refused it: {named[index]}", transient=False)
                else:
                    todo.append(item)


def _created(batch: list[PushItem], refs: list[str], payload: Any) -> list[tuple[PushItem, dict[str, Any]]]:
    """Each item of a ``chatusers.create`` with the chat user Userbot made for it, matched by
    ``client_ref``, never by position: an answer in another order is read right, and one that
    does not hold each asked ``client_ref`` exactly once (a chat user twice, one missing, one
    not asked for) is not read at all: the batch fails for now, with nothing recorded from it,
    and is sent again (its ``client_ref``s keep a repeat from making a second one). A chat
    user of the answer that is not valid fails its item for good, nothing recorded from it."""
    by_ref = dict(zip(refs, batch, strict=True))
    users = _chatusers_of("chatusers.create", payload, checked_only=False)
    answered = [_client_ref(user) for user in users]
    if len(answered) != len(refs) or set(answered) != set(by_ref):
        missing = len(set(by_ref) - set(answered))
        repeated = len(answered) - len(set(answered))
        unasked = len({r for r in answered if r not in by_ref})
        fail_all(
            batch,
            Failure(
                "Userbot's answer to chatusers.create does not hold each chat user asked for exactly"
                f" once ({missing} missing, {repeated} repeated, {unasked} not asked for); nothing was"
                " recorded from it",
                transient=True,
            ),
        )
        return []
    valid = {id(user) for user in _checked_chatusers("chatusers.create", users)}
    matched = []
    for user, ref in zip(users, answered, strict=True):
        item = by_ref[ref]  # type: ignore[index]
        if id(user) in valid:
            matched.append((item, user))
            continue
        [refused] = checked(
            "chatusers.create", "chatusers", [user], times=TIMES, more=chatuser_problems
        ).rejected
        item.fail(
            f"Userbot's answer for it is not valid ({refused.reason}); nothing was recorded from it",
            transient=False,
        )
    return matched


def _client_ref(user: Any) -> str | None:
    ref = user.get("client_ref") if isinstance(user, dict) else None
    return ref if isinstance(ref, str) else None


def _checked_chatusers(operation: str, users: list[Any]) -> list[dict[str, Any]]:
    return checked(operation, "chatusers", users, times=TIMES, more=chatuser_problems).items


def _chatusers_of(operation: str, payload: Any, *, checked_only: bool = True) -> list[Any]:
    """The chat users of an answer that carries them (none if it is not such an answer); with
    ``checked_only`` only the ones that pass the checks."""
    try:
        schema.check_envelope(operation, payload, "chatusers")
    except PayloadInvalid:
        return []
    users = payload["chatusers"]
    return _checked_chatusers(operation, users) if checked_only else users


def _tag_names(client: UserbotClient, book: TagBook, users: list[dict[str, Any]]) -> dict[str, str] | None:
    """The tags by Userbot id, read again if these chat users name one not known here; None
    if they cannot be read."""
    try:
        return book.names_for(client, (tag_id for user in users for tag_id in user["tags"]))
    except (ReadFailed, TransportError):
        return None


def _update(client: UserbotClient, items: list[PushItem], book: TagBook) -> None:
    groups: dict[tuple[str, ...], list[PushItem]] = defaultdict(list)
    adds: dict[str, list[PushItem]] = defaultdict(list)
    removes: dict[str, list[PushItem]] = defaultdict(list)
    for item in items:
        base, local = item.snapshot or {}, item.local or {}
        columns = tuple(k for k in changed_keys(base, local) if k != "tags")
        if columns:
            groups[columns].append(item)
        added, removed = set_delta(base, local)
        for name in added:
            adds[name].append(item)
        for name in removed:
            removes[name].append(item)
    parts: list[tuple[Request, list[PushItem], Any]] = []
    for columns, group in groups.items():
        for batch in _import_batches(group, columns):
            rows = [[i.remote_id, *(_cell(i.local.get(c)) for c in columns)] for i in batch]  # type: ignore[union-attr]
            request = api.chatusers_import(
                filename="backoffice-sync.csv", csv=import_csv(["id", *columns], rows)
            )
            parts.append((request, batch, ("import", columns)))
    for name, group in adds.items():
        tag = book.by_name[name]
        for batch in _batches(group, PAGE):
            ids = [i.remote_id for i in batch]
            request = (
                api.chatusers_add_tag(chatuser_ids=ids, tag_id=tag.remote_id)  # type: ignore[arg-type]
                if tag.remote_id
                else api.chatusers_add_tag(chatuser_ids=ids, tag_name=tag.name, color=tag.color)
            )
            parts.append((request, batch, ("add", name)))
    for name, group in removes.items():
        tag = book.by_name.get(name)
        if tag is None or not tag.remote_id:
            fail_all(
                group,
                Failure(f"the tag {name} has no Userbot id yet; the next pull brings it", transient=True),
            )
            continue
        for batch in _batches(group, PAGE):
            request = api.chatusers_remove_tag(
                chatuser_ids=[i.remote_id for i in batch], tag_id=tag.remote_id
            )  # type: ignore[misc]
            parts.append((request, batch, ("remove", name)))
    # Responses that carry whole chat users tell their updated_at; it is recorded only if
    # the chat user they show is exactly what we now believe Userbot holds, otherwise a
    # change made there meanwhile would look already seen to the next pull.
    observed: dict[int, list[tuple[str, Doc, dict[str, Any]]]] = defaultdict(list)
    outcomes = client.iter_many(request for request, _, _ in parts)
    for (request, batch, (what, arg)), outcome in zip(parts, outcomes, strict=True):
        failure = failure_of(outcome)
        if failure:
            fail_all(batch, failure)
            continue
        payload = outcome.payload  # type: ignore[union-attr]
        key = None if what == "import" else "chatusers"
        if unreadable := _unreadable(request.operation, payload, key):
            # Every one of these is safe to send again: the batch waits for another go.
            fail_all(batch, unreadable)
            continue
        if what == "import":
            _imported(batch, arg, payload)
            continue
        if what == "add":
            book.learn([payload["tag"]])
        users = _chatusers_of(request.operation, payload)
        names = _tag_names(client, book, users) or {}
        shown = {u["id"]: u for u in users if all(t in names for t in u["tags"])}
        for item in batch:
            snapshot = dict(item.snapshot or {})
            tags = set(snapshot.get("tags") or ())
            snapshot["tags"] = sorted(tags | {arg} if what == "add" else tags - {arg})
            item.confirm(snapshot=snapshot)
            if item.remote_id in shown:
                user = shown[item.remote_id]
                observed[id(item)].append((user["updated_at"], remote_doc(user, names), user))
    for item in items:
        for stamp, doc, user in sorted(observed.get(id(item), ()), key=lambda seen: seen[0], reverse=True):
            if doc == item.snapshot:
                item.confirm(updated_at=stamp, digest=wire_digest(user))
                break


def _unreadable(operation: str, payload: Any, key: str | None) -> Failure | None:
    """Why an answer cannot be read as a whole (with ``key``: its list of objects, which are
    looked at one by one after), or None."""
    try:
        if key is None:
            schema.validate_response(operation, payload)
        else:
            schema.check_envelope(operation, payload, key)
    except PayloadInvalid as exc:
        named = "; ".join(f"{name}: {why}" for name, why in exc.fields.items())
        return Failure(f"Userbot's answer to {operation} is not valid ({named})", transient=True)
    return None


def _imported(batch: list[PushItem], columns: tuple[str, ...], payload: dict[str, Any]) -> None:
    errors = {e["row"]: e["message"] for e in payload.get("errors", ())}
    for row, item in enumerate(batch, start=1):
        if row in errors:
            item.fail(f"Userbot refused the change: {errors[row]}", transient=False)
            continue
        snapshot = dict(item.snapshot or {})
        for column in columns:
            value = (item.local or {}).get(column)
            if value is None and column.startswith(VAR):
                snapshot.pop(column, None)
            else:
                snapshot[column] = value
        item.confirm(snapshot=snapshot)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _import_batches(items: list[PushItem], columns: tuple[str, ...]) -> Iterator[list[PushItem]]:
    batch: list[PushItem] = []
    size = 0
    for item in items:
        row = sum(len(_cell((item.local or {}).get(c))) + 3 for c in columns) + 32
        if batch and size + row > IMPORT_MAX_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += row
    if batch:
        yield batch


def _one(client: UserbotClient, request: Request) -> Any:
    return next(client.iter_many([request]))
