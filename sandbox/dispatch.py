"""The sandbox's answer to one request frame, in the contract's order of checks.

Size and channel first, then the fault injection's count (a 429 when it is the rate limit's
turn), login, chosen bot and schema; then the session's own operations, or the handler
that a sibling module registered with ``registry.operation``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from backoffice.userbot import codec
from backoffice.userbot.errors import PayloadInvalid, UnknownChannel
from backoffice.userbot.operations import OPERATIONS
from sandbox import (  # noqa: F401  (the handler modules register their operations)
    chat,
    chatusers,
    chatusers_create,
    csv_import,
    demo,
    intel,
    knowledge,
    segments,
    stats,
    visitors,
)
from sandbox.answers import Answer, error, ok
from sandbox.registry import CHECKS_OWN_SCHEMA, HANDLERS, Context, SandboxError
from sandbox.session import SESSION_OPERATIONS, Session, session_operation
from sandbox.store import SandboxStore

try:
    from backoffice.userbot.schema import validate_request as _validate_request
except ImportError:  # the schema check is optional; handlers validate on their own too
    _validate_request = None

log = logging.getLogger(__name__)

RETRY_AFTER_S = 0.05
# Requests never counted by --drop-every and --rate-limit-every, so a client can always log in.
UNCOUNTED = frozenset({"apiLogin", "sitekey"})
# Operations that never change state, so answering them does not call for a save.
READ_ONLY = frozenset(
    {
        "apiLogin",
        "sitekey",
        "who",
        "subscribe",
        "bot.get-vars",
        "bot.stats",
        "chatusers.get",
        "chatusers.insights",
        "chatusers.get-feedback",
        "chatusers.get-bot-segments",
        "chatusers.get-bot-tags",
        "chatusers.get-vars",
        "robin.sessions",
        "robin.session",
        "qeafilter.search.page-db-ai",
        "automated-messages.get",
        "rawstats.count-nps",
        "rawstats.all",
        "rawstats.count-messages",
        "rawstats.count-sessions",
        "rawstats.get",
        "intel.leadlist",
        "intel.visitdetails",
        "intel.keypeople",
    }
)


@dataclass(frozen=True, slots=True)
class Reply:
    """What became of one request frame."""

    answer: Answer
    drop: bool  # the connection drops instead of sending the answer
    changed: bool  # a 200 to an operation that changes state: the state is to be saved


def answer(
    store: SandboxStore, session: Session, frame: str | bytes, *, drop_every: int, rate_limit_every: int
) -> Reply:
    """The answer to one request frame on ``session``, with the faults ``--drop-every`` and
    ``--rate-limit-every`` inject (0: none), counted per connection."""
    too_large = _frame_bytes(frame) > codec.MAX_FRAME_BYTES
    raw: codec.RawRequest | None = None
    if too_large:
        channel = codec.channel_hint(frame)
    else:
        try:
            raw = codec.read_operation(frame)
            channel = raw.operation
        except UnknownChannel:
            channel = codec.ERROR_CHANNEL
    limited = _faulted(session, channel, rate_limit_every)
    if limited is not None:
        return Reply(limited, drop=False, changed=False)
    changed = False
    if too_large:
        response = error(channel, 413, "too_large", "a frame is at most 10 MiB")
    elif raw is None:
        response = error(channel, 400, "unknown_channel", "no known operation can be read from the frame")
    else:
        response = _checked(store, session, raw)
        changed = response.status == 200 and channel not in READ_ONLY
    return Reply(response, drop=_drops(session, channel, drop_every), changed=changed)


def _frame_bytes(frame: str | bytes) -> int:
    if isinstance(frame, bytes):
        return len(frame)
    if len(frame) * 4 <= codec.MAX_FRAME_BYTES:  # no UTF-8 text of this length can be too large
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


def _faulted(session: Session, channel: str, rate_limit_every: int) -> Answer | None:
    """Count the request; a 429 answer when it is the rate limit's turn."""
    if channel in UNCOUNTED:
        return None
    session.counted += 1
    if rate_limit_every and session.counted % rate_limit_every == 0:
        return error(
            channel, 429, "rate_limited", "too many requests; retry later", retry_after=RETRY_AFTER_S
        )
    return None


def _drops(session: Session, channel: str, drop_every: int) -> bool:
    """Whether this (counted, not rate-limited) request is the one the connection drops after."""
    if channel in UNCOUNTED or not drop_every:
        return False
    return session.counted % drop_every == 0


def _checked(store: SandboxStore, session: Session, raw: codec.RawRequest) -> Answer:
    channel = raw.operation
    op = OPERATIONS[channel]
    if session.account is None and channel != "apiLogin":
        return error(channel, 401, "unauthenticated", "log in with apiLogin first")
    if op.bot_scoped and session.bot is None:
        return error(channel, 403, "forbidden", "choose a bot with sitekey first")
    validate = _validate_request
    try:
        payload = codec.parse_payload(raw)
        if validate is not None and channel not in CHECKS_OWN_SCHEMA:
            validate(channel, payload)
    except PayloadInvalid as exc:
        return error(channel, 400, "invalid", exc.message, fields=exc.fields)
    now_ms = int(time.time() * 1000)
    if channel in SESSION_OPERATIONS:
        return session_operation(store, session, channel, payload, now_ms)
    handler = HANDLERS.get(channel)
    if handler is None:
        return error(channel, 500, "server_error", f"the sandbox does not implement {channel}")
    assert session.account is not None
    ctx = Context(store=store, account=session.account, bot=session.bot, now_ms=now_ms)  # type: ignore[arg-type]
    if validate is not None and channel in CHECKS_OWN_SCHEMA:
        ctx.check_schema = lambda: validate(channel, payload)
    try:
        result = handler(ctx, payload)
    except PayloadInvalid as exc:  # the schema's verdict, asked for by the handler
        return error(channel, 400, "invalid", exc.message, fields=exc.fields)
    except SandboxError as exc:
        return error(channel, exc.status, exc.code, exc.message, fields=exc.fields)
    except Exception:
        log.exception("sandbox handler of %s failed", channel)
        return error(channel, 500, "server_error", f"the sandbox failed to answer {channel}")
    return Answer(ok(channel, result), 200, session.bot, ctx.events)
