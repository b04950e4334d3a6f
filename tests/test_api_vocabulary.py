"""The client's ``Literal`` types repeat the contract's closed sets: they must not drift from them."""

from __future__ import annotations

import inspect
import typing
from types import ModuleType
from typing import Any, Literal

import pytest

from backoffice.userbot import api, asyncapi, payloads, vocabulary

_SCHEMAS = asyncapi.document()["components"]["schemas"]

# Where each Literal of the client stands, and the closed set it must equal: the vocabulary
# module where the contract's set lives there, the AsyncAPI document's enum otherwise.
EXPECTED: dict[str, tuple[str, ...]] = {
    "Channel": vocabulary.CHANNELS,
    "FilterOp": vocabulary.OPS,
    "SegmentFilter.field": vocabulary.FILTER_FIELDS,
    "SegmentFilter.op": vocabulary.OPS,
    "Segment.match": vocabulary.MATCHES,
    "AutomatedMessageCondition.field": vocabulary.CONDITION_FIELDS,
    "AutomatedMessageCondition.op": vocabulary.CONDITION_OPS,
    "Answer.type": vocabulary.ANSWER_TYPES,
    "AutomatedMessage.trigger": vocabulary.TRIGGERS,
    "AutomatedMessageDraft.trigger": vocabulary.TRIGGERS,
    "Session.status": tuple(_SCHEMAS["Session"]["properties"]["status"]["enum"]),
    "Message.from": tuple(_SCHEMAS["Message"]["properties"]["from"]["enum"]),
    "subscribe.topic": tuple(asyncapi.request_schema("subscribe")["properties"]["topic"]["enum"]),
    "chatusers_create_segment.match": vocabulary.MATCHES,
    "chatusers_edit_segment.match": vocabulary.MATCHES,
    "ChatUser.channel": vocabulary.CHANNELS,
    "ChatUserDraft.channel": vocabulary.CHANNELS,
    "Session.channel": vocabulary.CHANNELS,
}


def _literals(hint: Any) -> list[tuple[str, ...]]:
    """Every Literal inside a type hint (``list[X]``, ``X | None``, ``NotRequired[X]`` ...)."""
    if typing.get_origin(hint) is Literal:
        return [typing.get_args(hint)]
    return [found for arg in typing.get_args(hint) for found in _literals(arg)]


def _literals_of_the_client() -> dict[str, list[tuple[str, ...]]]:
    """Each place of ``payloads`` and ``api`` that holds a Literal, by ``Owner.attribute`` or alias name."""
    return {place: literals for module in (payloads, api) for place, literals in _literals_of(module).items()}


def _literals_of(module: ModuleType) -> dict[str, list[tuple[str, ...]]]:
    found: dict[str, list[tuple[str, ...]]] = {}
    for name, value in vars(module).items():
        if typing.get_origin(value) is Literal:
            found[name] = [typing.get_args(value)]
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            owners = [(name, value)] + [
                (f"{name}.{method}", member)
                for method, member in vars(value).items()
                if inspect.isfunction(member)
            ]
            for owner, obj in owners:
                for attribute, hint in typing.get_type_hints(obj, vars(module), include_extras=True).items():
                    if literals := _literals(hint):
                        found[f"{owner}.{attribute}"] = literals
        elif inspect.isfunction(value) and value.__module__ == module.__name__:
            for attribute, hint in typing.get_type_hints(value, vars(module), include_extras=True).items():
                if literals := _literals(hint):
                    found[f"{name}.{attribute}"] = literals
    return found


@pytest.mark.parametrize("place", sorted(EXPECTED))
def test_each_literal_of_the_client_equals_the_contract_set(place):
    found = _literals_of_the_client()

    assert found[place] == [EXPECTED[place]]


def test_every_literal_of_the_client_is_checked():
    # A Literal added to the client without an entry here would drift unnoticed.
    assert set(_literals_of_the_client()) == set(EXPECTED)
