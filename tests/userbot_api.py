"""Test-only ways to drive the protocol client, built on its public API.

``UserbotApi`` gives every builder of ``backoffice.userbot.api`` a method that sends it, so
a test reads like a script of calls; ``call_many_retrying`` sends a batch again where that
is known to be safe. Production sends builders through ``client.call`` and
``client.iter_many`` and decides for itself what to send again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, Literal, ParamSpec

from backoffice.userbot import api
from backoffice.userbot.client import Outcome, UserbotClient
from backoffice.userbot.codec import Event, Request
from backoffice.userbot.errors import ConnectFailed, ConnectionLost, NotSent
from backoffice.userbot.operations import is_safe_to_repeat

P = ParamSpec("P")


def builder_name(operation: str) -> str:
    """The builder's name for an operation: ``chatusers.get-bot-tags`` -> ``chatusers_get_bot_tags``."""
    return operation.replace(".", "_").replace("-", "_")


def call_many_retrying(
    client: UserbotClient, requests: Iterable[Request], *, attempts: int = 3, timeout: float | None = None
) -> list[Outcome]:
    """Every outcome of a pipelined batch, in request order, after sending again what is known
    to be safe: NotSent, and ConnectionLost where ``operations.is_safe_to_repeat`` says so.
    Unsafe lost requests stay ConnectionLost."""
    batch = list(requests)
    outcomes: list[Outcome | None] = [None] * len(batch)
    todo = list(range(len(batch)))
    for attempt in range(max(1, attempts)):
        try:
            results = list(client.iter_many([batch[i] for i in todo], timeout=timeout))
        except ConnectFailed as exc:
            if attempt == 0:
                raise
            for i in todo:
                if isinstance(outcomes[i], NotSent):
                    outcomes[i] = NotSent(f"{batch[i].operation}: not sent: {exc}")
            break
        for i, outcome in zip(todo, results, strict=True):
            outcomes[i] = outcome
        todo = [i for i in todo if _may_send_again(batch[i], outcomes[i])]
        if not todo:
            break
    return outcomes  # type: ignore[return-value]


def _may_send_again(request: Request, outcome: Outcome | None) -> bool:
    if isinstance(outcome, NotSent):
        return True
    return isinstance(outcome, ConnectionLost) and is_safe_to_repeat(request.operation, request.payload)


class _Sent(Generic[P]):
    """Turns a builder into a method that sends its request and returns the 200 payload."""

    def __init__(self, build: Callable[P, Request]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    def __get__(self, ub: UserbotApi | None, owner: type[UserbotApi]) -> Callable[P, Any]:
        if ub is None:
            return self._build  # type: ignore[return-value]
        build, client = self._build, ub.client

        def send(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client.call(build(*args, **kwargs))

        send.__name__ = build.__name__
        send.__doc__ = build.__doc__
        return send


class UserbotApi:
    """One method per operation over a connected client: ``ub.chatusers_get(limit=1000)``."""

    def __init__(self, client: UserbotClient) -> None:
        self.client = client

    who = _Sent(api.who)

    def subscribe(self, topic: Literal["chat", "chatusers"], callback: Callable[[Event], None]) -> None:
        """Subscribe through the client, which restores the subscription on every reconnect."""
        self.client.subscribe(topic, callback)

    bot_get_vars = _Sent(api.bot_get_vars)
    bot_stats = _Sent(api.bot_stats)
    chatusers_get = _Sent(api.chatusers_get)
    chatusers_create = _Sent(api.chatusers_create)
    chatusers_delete = _Sent(api.chatusers_delete)
    chatusers_insights = _Sent(api.chatusers_insights)
    chatusers_import = _Sent(api.chatusers_import)
    chatusers_get_feedback = _Sent(api.chatusers_get_feedback)
    chatusers_create_segment = _Sent(api.chatusers_create_segment)
    chatusers_edit_segment = _Sent(api.chatusers_edit_segment)
    chatusers_remove_segment = _Sent(api.chatusers_remove_segment)
    chatusers_get_bot_segments = _Sent(api.chatusers_get_bot_segments)
    chatusers_get_bot_tags = _Sent(api.chatusers_get_bot_tags)
    chatusers_add_tag = _Sent(api.chatusers_add_tag)
    chatusers_remove_tag = _Sent(api.chatusers_remove_tag)
    chatusers_get_vars = _Sent(api.chatusers_get_vars)
    chatusers_set_variable = _Sent(api.chatusers_set_variable)
    chatusers_remove_variable = _Sent(api.chatusers_remove_variable)
    robin_sessions = _Sent(api.robin_sessions)
    robin_session = _Sent(api.robin_session)
    chat_assign_to_agent = _Sent(api.chat_assign_to_agent)
    chat_assign_to_bot = _Sent(api.chat_assign_to_bot)
    say = _Sent(api.say)
    qeafilter_search_page_db_ai = _Sent(api.qeafilter_search_page_db_ai)
    qeafilter_save = _Sent(api.qeafilter_save)
    qeafilter_save_token = _Sent(api.qeafilter_save_token)
    qeafilter_delete = _Sent(api.qeafilter_delete)
    automated_messages_get = _Sent(api.automated_messages_get)
    automated_messages_save = _Sent(api.automated_messages_save)
    automated_messages_delete = _Sent(api.automated_messages_delete)
    rawstats_count_nps = _Sent(api.rawstats_count_nps)
    rawstats_all = _Sent(api.rawstats_all)
    rawstats_count_messages = _Sent(api.rawstats_count_messages)
    rawstats_count_sessions = _Sent(api.rawstats_count_sessions)
    rawstats_get = _Sent(api.rawstats_get)
    intel_leadlist = _Sent(api.intel_leadlist)
    intel_visitdetails = _Sent(api.intel_visitdetails)
    intel_keypeople = _Sent(api.intel_keypeople)
    intel_addtag = _Sent(api.intel_addtag)
    intel_removetag = _Sent(api.intel_removetag)
    meetings_schedule = _Sent(api.meetings_schedule)
    meetings_decline = _Sent(api.meetings_decline)
