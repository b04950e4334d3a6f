"""Reading Userbot's intel answers: each a plain array, checked object by object.

The engine's list readers take an object holding a list (``{"chatusers": [...]}``); the
intel answers are the array itself, so the envelope is checked here (an array, or the
read failed) and each object against the array's item schema, then as
``backoffice.sync.untrusted`` checks every object: no NUL character, real times.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import fastjsonschema

from backoffice.sync.kinds import Failure
from backoffice.sync.reading import ReadFailed, RemoteList, read
from backoffice.sync.untrusted import beyond_schema
from backoffice.userbot import api
from backoffice.userbot.asyncapi import DRAFT, payload_schema
from backoffice.userbot.client import UserbotClient
from backoffice.userbot.codec import Request
from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.schema import Rejected, rejected
from backoffice.userbot.schema_check import Check, compile_check

LEAD_TIMES = ("last_visit_at",)
VISIT_TIMES = ("landed_at", "left_at")


@functools.cache
def _item_check(operation: str) -> Check:
    schema = payload_schema("response", operation)
    assert schema is not None and schema.get("type") == "array"
    return compile_check({"$schema": DRAFT, **schema["items"]})


def checked_array(
    operation: str, payload: Any, *, times: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """The objects of an array answer that pass, and the others with why; ReadFailed if the
    answer is no array at all."""
    if not isinstance(payload, list):
        raise ReadFailed(operation, Failure("the answer is not an array", transient=True))
    check = _item_check(operation)
    valid: list[dict[str, Any]] = []
    refused: list[Rejected] = []
    for item in payload:
        try:
            check.is_valid(item)
            problems: dict[str, str] = {}
        except fastjsonschema.JsonSchemaValueException:
            try:
                check.enforce(item)
                problems = {"object": "is not valid"}
            except PayloadInvalid as exc:
                problems = dict(exc.fields) or {"object": exc.message}
        if not problems:
            problems = beyond_schema(item, times=times)
        if problems:
            refused.append(rejected(item, problems))
        else:
            valid.append(item)
    return valid, refused


def read_leads(client: UserbotClient) -> RemoteList:
    """Every lead of the bot, checked one by one; the list is whole, so it is complete."""
    objects, refused = checked_array("intel.leadlist", read(client, api.intel_leadlist()), times=LEAD_TIMES)
    return RemoteList(objects, complete=True, rejected=refused)


def detail_requests(lead_id: str) -> tuple[Request, Request]:
    return api.intel_visitdetails(lead_id=lead_id), api.intel_keypeople(lead_id=lead_id)
