"""Reads the insights pages need beside ``insights.selectors``: the range's audience and
account rows, the bots set up here, and a page of the range's feedback. Each costs a fixed
number of queries, whatever the range's length; its docstring says how many."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from backoffice.userbot.models import Bot
from chatusers.models import Feedback
from insights.models import AccountBots, Audience

FEEDBACK_PER_PAGE = 20
# Past this many the feedback list says "over 1,000" instead of counting further.
FEEDBACK_COUNT_CAP = 1000


def range_audience(*, bot: Bot, start: date, end: date) -> Audience | None:
    """The audience read for exactly this range, if it was. One query."""
    return Audience.objects.filter(bot=bot, start=start, end=end).first()


def range_account_bots(*, start: date, end: date) -> AccountBots | None:
    """The account's bots read for exactly this range, if they were. One query."""
    return AccountBots.objects.filter(start=start, end=end).first()


def bot_ids_by_sitekey() -> dict[str, int]:
    """Every bot set up here, by sitekey, to link the account's rows to their pages. One query."""
    return dict(Bot.objects.values_list("sitekey", "pk"))


@dataclass(frozen=True, slots=True)
class FeedbackPage:
    """A page of the range's feedback, newest first. ``count`` is None past the cap."""

    rows: list[Feedback]
    number: int
    has_previous: bool
    has_next: bool
    count: int | None


def range_feedback(*, bot: Bot, start: date, end: date, page: int) -> FeedbackPage:
    """The ``page``-th page (from 1) of the bot's feedback given on the range's UTC days,
    newest first, with each row's chat user. Two queries: the page (one row more than shown,
    to know whether another follows) and a count that stops at FEEDBACK_COUNT_CAP."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    given = Feedback.objects.filter(bot=bot, created_at__gte=since, created_at__lt=until)
    number = max(page, 1)
    offset = (number - 1) * FEEDBACK_PER_PAGE
    rows = list(
        given.select_related("chatuser").order_by("-created_at", "-pk")[
            offset : offset + FEEDBACK_PER_PAGE + 1
        ]
    )
    counted = given.order_by()[: FEEDBACK_COUNT_CAP + 1].count()
    return FeedbackPage(
        rows=rows[:FEEDBACK_PER_PAGE],
        number=number,
        has_previous=number > 1,
        has_next=len(rows) > FEEDBACK_PER_PAGE,
        count=None if counted > FEEDBACK_COUNT_CAP else counted,
    )
