"""A typed builder for every Userbot operation.

Builders return ``codec.Request`` values, so the same call can be sent alone
(``client.call(chatusers_get(limit=1000))``) or pipelined (``client.iter_many([...])``).
Payload shapes follow the wire contract, sections 4 and 5 (``payloads`` types them);
``apiLogin`` and ``sitekey`` have no builder because the client's handshake sends them.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from backoffice.userbot.codec import Request
from backoffice.userbot.errors import PayloadInvalid
from backoffice.userbot.payloads import AutomatedMessageDraft, ChatUserDraft, SegmentFilter

Day = date | str


def _clean(**fields: Any) -> dict[str, Any]:
    """The payload with the optional fields left out that the caller did not give."""
    return {name: value for name, value in fields.items() if value is not None}


def _day(value: Day) -> str:
    return value.isoformat() if isinstance(value, date) else value


def _range(from_date: Day, to_date: Day) -> dict[str, str]:
    return {"from": _day(from_date), "to": _day(to_date)}


# --- session and bot ----------------------------------------------------------------------


def who() -> Request:
    return Request("who")


def subscribe(*, topic: Literal["chat", "chatusers"]) -> Request:
    return Request("subscribe", {"topic": topic})


def bot_get_vars() -> Request:
    return Request("bot.get-vars")


def bot_stats(*, from_date: Day, to_date: Day) -> Request:
    return Request("bot.stats", _range(from_date, to_date))


# --- chat users -------------------------------------------------------------------------


def chatusers_get(
    *, offset: int = 0, limit: int = 100, search: str | None = None, segment_id: str | None = None
) -> Request:
    return Request("chatusers.get", _clean(offset=offset, limit=limit, search=search, segment_id=segment_id))


def chatusers_create(items: list[ChatUserDraft]) -> Request:
    """Create 1 to 1000 chat users, all or nothing; items with a client_ref repeat safely."""
    return Request("chatusers.create", list(items))


def chatusers_delete(*, ids: list[str]) -> Request:
    return Request("chatusers.delete", {"ids": list(ids)})


def chatusers_insights(*, from_date: Day, to_date: Day) -> Request:
    return Request("chatusers.insights", _range(from_date, to_date))


def chatusers_import(*, filename: str, csv: str) -> Request:
    return Request("chatusers.import", {"filename": filename, "csv": csv})


def chatusers_get_feedback(*, offset: int = 0, limit: int = 100, chatuser_id: str | None = None) -> Request:
    return Request("chatusers.get-feedback", _clean(offset=offset, limit=limit, chatuser_id=chatuser_id))


def chatusers_create_segment(
    *,
    name: str,
    match: Literal["all", "any"],
    filters: list[SegmentFilter],
    client_ref: str | None = None,
) -> Request:
    return Request(
        "chatusers.create-segment",
        _clean(name=name, match=match, filters=list(filters), client_ref=client_ref),
    )


def chatusers_edit_segment(
    *, id: str, name: str, match: Literal["all", "any"], filters: list[SegmentFilter]
) -> Request:
    return Request(
        "chatusers.edit-segment", {"id": id, "name": name, "match": match, "filters": list(filters)}
    )


def chatusers_remove_segment(*, ids: list[str]) -> Request:
    return Request("chatusers.remove-segment", list(ids))


def chatusers_get_bot_segments() -> Request:
    return Request("chatusers.get-bot-segments")


def chatusers_get_bot_tags() -> Request:
    return Request("chatusers.get-bot-tags")


def chatusers_add_tag(
    *,
    chatuser_ids: list[str],
    tag_id: str | None = None,
    tag_name: str | None = None,
    color: str | None = None,
) -> Request:
    """Tag chat users with an existing tag (``tag_id``) or by name, creating a new name."""
    if (tag_id is None) == (tag_name is None):
        raise PayloadInvalid("give tag_id or tag_name, not both", {"tag": "one of id or name"})
    tag = {"id": tag_id} if tag_id is not None else _clean(name=tag_name, color=color)
    return Request("chatusers.add-tag", {"chatuser_ids": list(chatuser_ids), "tag": tag})


def chatusers_remove_tag(*, chatuser_ids: list[str], tag_id: str) -> Request:
    return Request("chatusers.remove-tag", {"chatuser_ids": list(chatuser_ids), "element_id": tag_id})


def chatusers_get_vars(*, chatuser_id: str) -> Request:
    return Request("chatusers.get-vars", {"chatuser_id": chatuser_id})


def chatusers_set_variable(
    *, chatuser_id: str, value: str, variable_id: str | None = None, name: str | None = None
) -> Request:
    """Update a variable the chat user has (``variable_id``), or set one by ``name``."""
    if (variable_id is None) == (name is None):
        raise PayloadInvalid("give variable_id or name, not both", {"variable": "one of id or name"})
    if variable_id is not None:
        payload: dict[str, Any] = {"chatuser_id": chatuser_id, "variable_id": variable_id, "value": value}
    else:
        payload = {"chatuser_id": chatuser_id, "variable": {"name": name, "value": value}}
    return Request("chatusers.set-variable", payload)


def chatusers_remove_variable(*, chatuser_ids: list[str], variable_id: str) -> Request:
    return Request(
        "chatusers.remove-variable", {"chatuser_ids": list(chatuser_ids), "element_id": variable_id}
    )


# --- live chat --------------------------------------------------------------------------


def robin_sessions(*, user_id: str, limit: int = 100, offset: int = 0) -> Request:
    """The caller's chats; ``user_id`` must be the handshake's ``who`` id."""
    return Request("robin.sessions", {"user_id": user_id, "limit": limit, "offset": offset})


def robin_session(*, user_id: str, session_id: str) -> Request:
    return Request("robin.session", {"user_id": user_id, "session_id": session_id})


def chat_assign_to_agent(*, session_id: str, agent_id: str) -> Request:
    return Request("chat-assign-to-agent", {"session_id": session_id, "agent_id": agent_id})


def chat_assign_to_bot(*, session_id: str) -> Request:
    return Request("chat-assign-to-bot", {"session_id": session_id})


def say(*, wspath: str, session_id: str, message: str) -> Request:
    """An agent's message into a chat; not safe to repeat when its answer was lost."""
    return Request("say", {"wspath": wspath, "session_id": session_id, "message": message})


# --- knowledge base (qeafilter) ---------------------------------------------------------


def qeafilter_search_page_db_ai(
    *, offset: int = 0, limit: int = 100, query: str | None = None, label: str | None = None
) -> Request:
    return Request(
        "qeafilter.search.page-db-ai", _clean(offset=offset, limit=limit, query=query, label=label)
    )


def qeafilter_save(
    *,
    label: str,
    question: str,
    answer: str,
    language: str | None = None,
    enabled: bool | None = None,
    client_ref: str | None = None,
) -> Request:
    return Request(
        "qeafilter.save",
        _clean(
            label=label,
            question=question,
            answer=answer,
            language=language,
            enabled=enabled,
            client_ref=client_ref,
        ),
    )


def qeafilter_save_token(
    *,
    id: str,
    label: str,
    question: str | None = None,
    answer: str | None = None,
    language: str | None = None,
    enabled: bool | None = None,
) -> Request:
    """Update an interaction; the wire carries its label as ``<label>`` in ``token``."""
    return Request(
        "qeafilter.save.token",
        _clean(
            id=id, token=f"<{label}>", question=question, answer=answer, language=language, enabled=enabled
        ),
    )


def qeafilter_delete(*, id: str) -> Request:
    return Request("qeafilter.delete", {"id": id})


# --- automated messages -----------------------------------------------------------------


def automated_messages_get() -> Request:
    return Request("automated-messages.get")


def automated_messages_save(*, automated_message: AutomatedMessageDraft) -> Request:
    return Request("automated-messages.save", dict(automated_message))


def automated_messages_delete(*, id: str) -> Request:
    return Request("automated-messages.delete", {"id": id})


# --- statistics -------------------------------------------------------------------------


def rawstats_count_nps(*, from_date: Day, to_date: Day) -> Request:
    return Request("rawstats.count-nps", _range(from_date, to_date))


def rawstats_all(*, from_date: Day, to_date: Day) -> Request:
    return Request("rawstats.all", _range(from_date, to_date))


def rawstats_count_messages(*, from_date: Day, to_date: Day) -> Request:
    return Request("rawstats.count-messages", _range(from_date, to_date))


def rawstats_count_sessions(*, from_date: Day, to_date: Day) -> Request:
    return Request("rawstats.count-sessions", _range(from_date, to_date))


def rawstats_get(*, from_date: Day, to_date: Day) -> Request:
    return Request("rawstats.get", _range(from_date, to_date))


# --- leads (intel) and meetings -----------------------------------------------------------


def intel_leadlist() -> Request:
    return Request("intel.leadlist")


def intel_visitdetails(*, lead_id: str) -> Request:
    return Request("intel.visitdetails", {"lead_id": lead_id})


def intel_keypeople(*, lead_id: str) -> Request:
    return Request("intel.keypeople", {"lead_id": lead_id})


def intel_addtag(*, lead_id: str, tag: str) -> Request:
    return Request("intel.addtag", {"lead_id": lead_id, "tag": tag})


def intel_removetag(*, lead_id: str, tag: str) -> Request:
    return Request("intel.removetag", {"lead_id": lead_id, "tag": tag})


def meetings_schedule(
    *, chatuser_id: str, event_uri: str, start_time: str, end_time: str, invitee_email: str
) -> Request:
    """Book a meeting; not safe to repeat when its answer was lost."""
    return Request(
        "meetings.schedule",
        {
            "chatuser_id": chatuser_id,
            "event_uri": event_uri,
            "start_time": start_time,
            "end_time": end_time,
            "invitee_email": invitee_email,
        },
    )


def meetings_decline(*, chatuser_id: str, reason: str) -> Request:
    return Request("meetings.decline", {"chatuser_id": chatuser_id, "reason": reason})
