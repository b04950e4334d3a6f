"""What a bot's insights page draws and exports from the stored rows: each CSV holds exactly
its table's cells (a missing day an empty cell, formulas made inert), each table view the
same cells with every text escaped, each chart the table's numbers with gaps for missing
days, totals checked in words, the feedback of the range, and a page that costs the same
queries for a week as for a year."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from chatusers.models import Feedback
from insights.admin_charts import ChartTable, Column, Row
from insights.admin_csv import csv_text
from insights.admin_markup import table_html
from tests.factories import BotFactory, ChatUserFactory
from tests.insights_rows import PROBLEM, store_days, store_range

pytestmark = pytest.mark.django_db

START, END = date(2026, 11, 1), date(2026, 11, 24)
MISSING_DAY, INVALID_DAY = date(2026, 11, 20), date(2026, 11, 21)
RANGE = {"from": START.isoformat(), "to": END.isoformat()}
TABLES = ("activity", "nps", "sales", "conversion", "audience_channel", "audience_language", "bots")


@pytest.fixture
def bot() -> Any:
    bot = BotFactory(name="Shop", sitekey="shop")
    store_days(bot, START, END, missing=[MISSING_DAY], invalid=[INVALID_DAY])
    store_range(bot, START, END)
    return bot


@pytest.fixture
def viewer(client: Any) -> Any:
    user = get_user_model().objects.create_user("vera", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="viewer"))
    client.force_login(user)
    return user


def _page(client: Any, bot: Any, params: dict[str, str]) -> Any:
    response = client.get(f"/admin/insights/daystats/{bot.pk}/", params)
    assert response.status_code == 200
    return response


def _table_cells(html: str, key: str) -> list[list[str]]:
    """The header and body cells of the table view ``key``, as text."""
    table = re.search(rf'<table class="insights-data" data-table="{key}">(.*?)</table>', html, re.S)
    assert table, key
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows]
    return [[unescape(re.sub(r"<[^>]+>", "", cell)) for cell in row] for row in cells]


def _csv(client: Any, bot: Any, key: str, params: dict[str, str]) -> list[list[str]]:
    response = client.get(f"/admin/insights/daystats/{bot.pk}/{key}.csv", params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def _inert(cell: str) -> str:
    return f"'{cell}" if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell


@pytest.mark.parametrize("key", TABLES)
def test_each_csv_holds_exactly_the_cells_of_its_table_view(client, viewer, bot, key):
    html = _page(client, bot, RANGE).content.decode()

    table = _table_cells(html, key)
    exported = _csv(client, bot, key, RANGE)

    assert len(table) > 1
    numeric = {n for n, cell in enumerate(table[1]) if re.fullmatch(r"-?\d+(\.\d+)?", cell)}
    assert exported == [
        table[0],
        *([c if n in numeric else _inert(c) for n, c in enumerate(r)] for r in table[1:]),
    ]


def test_a_missing_day_is_an_empty_cell_and_an_invalid_day_names_its_problem(client, viewer, bot):
    rows = {row[0]: row for row in _csv(client, bot, "activity", RANGE)}

    assert rows["Day"] == ["Day", "Sessions", "Messages", "New chat users", "Handovers", "Note", "Read at"]
    assert rows["2026-11-19"] == ["2026-11-19", "28", "84", "4", "0", "", "2026-11-24T09:30:05Z"]
    assert rows["2026-11-20"] == ["2026-11-20", "", "", "", "", "missing", ""]
    assert rows["2026-11-21"] == ["2026-11-21", "", "", "", "", PROBLEM, "2026-11-24T09:30:05Z"]
    sales = {row[0]: row for row in _csv(client, bot, "sales", RANGE)}
    assert sales["2026-11-19"] == ["2026-11-19", "4", "225.00", "EUR", "", "2026-11-24T09:30:05Z"]
    assert sales["2026-11-20"][1:5] == ["", "", "", "missing"]
    conversion = {row[0]: row for row in _csv(client, bot, "conversion", RANGE)}
    assert conversion["2026-11-19"][1] == "1.43"


def test_text_cells_are_made_inert_and_figures_stay_numbers():
    table = ChartTable(
        "t",
        "T",
        "bar",
        "Label",
        (Column("nps", "NPS", kind="score"), Column("name", "Name", kind="text")),
        (Row("=1+1", (-100, "@SUM(A1)"), "-note", None),),
        "",
    )

    assert list(csv.reader(io.StringIO(csv_text(table)))) == [
        ["Label", "NPS", "Name", "Note", "Read at"],
        ["'=1+1", "-100", "'@SUM(A1)", "'-note", ""],
    ]


def test_the_table_view_escapes_every_text_cell_and_writes_figures_as_they_are():
    read = datetime(2026, 11, 24, 9, 30, 5, tzinfo=UTC)
    table = ChartTable(
        "t",
        "T <i>",
        "bar",
        "Label",
        (Column("nps", "NPS", kind="score"), Column("name", "Name", kind="text")),
        (Row("<b>x</b>", (-100, '"&<'), "<i>why</i>", read, 'https://e.x/?a=1&b="2"'),),
        "",
    )

    html = table_html(table)

    assert html == (
        '<table class="insights-data" data-table="t"><caption>T &lt;i&gt;</caption><thead><tr>'
        '<th scope="col" class="label">Label</th><th scope="col" class="num">NPS</th>'
        '<th scope="col" class="text">Name</th><th scope="col" class="note">Note</th>'
        '<th scope="col" class="read">Read at</th></tr></thead><tbody><tr class="insights-gap">'
        '<th scope="row"><a href="https://e.x/?a=1&amp;b=&quot;2&quot;">&lt;b&gt;x&lt;/b&gt;</a></th>'
        '<td class="num">-100</td><td class="text">&quot;&amp;&lt;</td>'
        '<td class="note">&lt;i&gt;why&lt;/i&gt;</td><td class="read">2026-11-24T09:30:05Z</td>'
        "</tr></tbody></table>"
    )


def test_the_account_csv_neutralises_a_bots_name_and_follows_the_pages_sort(client, viewer, bot):
    by_messages = {**RANGE, "sort": "-messages"}

    default = _csv(client, bot, "bots", RANGE)
    sorted_by_messages = _csv(client, bot, "bots", by_messages)

    assert [row[:5] for row in default[1:]] == [
        ['\'=HYPERLINK("http://x")', "other", "70", "90", "3"],
        ["Shop", "shop", "40", "120", "9"],
        ["Quiet", "quiet", "5", "300", "1"],
    ]
    assert [row[0] for row in sorted_by_messages[1:]] == ["Quiet", "Shop", '\'=HYPERLINK("http://x")']
    assert _table_cells(_page(client, bot, by_messages).content.decode(), "bots")[1][0] == "Quiet"


def test_each_chart_draws_its_tables_numbers_with_gaps_for_the_missing_and_invalid_days(client, viewer, bot):
    response = _page(client, bot, RANGE)

    charts = response.context["page_data"]["charts"]
    activity = charts["activity"]
    days = (END - START).days + 1
    assert activity["labels"] == [(START + timedelta(days=n)).isoformat() for n in range(days)]
    sessions = activity["datasets"][0]
    assert sessions["label"] == "Sessions"
    gaps = [activity["labels"].index(d.isoformat()) for d in (MISSING_DAY, INVALID_DAY)]
    assert [sessions["data"][n] for n in gaps] == [None, None]
    assert [v for n, v in enumerate(sessions["data"]) if n not in gaps] == [
        10 + n for n in range(days) if n not in gaps
    ]
    table = _table_cells(response.content.decode(), "sales")
    revenue = next(d for d in charts["sales"]["datasets"] if d["label"] == "Revenue (EUR)")
    assert revenue["data"] == [float(row[2]) if row[2] else None for row in table[1:]]
    assert set(charts) == set(TABLES) - {"bots"}


def test_totals_that_disagree_with_the_days_say_so_in_words(client, viewer):
    bot = BotFactory()
    store_days(bot, START, END)
    days = (END - START).days + 1
    sessions = sum(10 + n for n in range(days))
    store_range(bot, START, END, sessions=sessions + 2)

    text = unescape(_page(client, bot, RANGE).content.decode())

    assert (
        f"Userbot's total for the range is {sessions + 2}, but the days add up to {sessions}: "
        "they disagree by +2." in text
    )
    assert f"Userbot's total for the range, {3 * sessions}, agrees with the sum of the days." in text


def test_totals_not_read_for_the_range_say_why(client, viewer, bot):
    text = unescape(_page(client, bot, {"from": "2026-11-02", "to": "2026-11-24"}).content.decode())

    assert "Not checked against Userbot's total: the totals of this range were never read." in text
    assert "The audience of exactly this range has not been read" in text


def test_audience_bars_lead_to_the_chat_users_of_that_channel_and_language(client, viewer, bot):
    ChatUserFactory(bot=bot, channel="whatsapp", language="en", name="Wanda")
    ChatUserFactory(bot=bot, channel="webchat", language="it", name="Walter")

    charts = _page(client, bot, RANGE).context["page_data"]["charts"]
    channel, language = charts["audience_channel"], charts["audience_language"]

    assert channel["labels"] == ["Webchat", "WhatsApp", "Telegram"]
    assert channel["datasets"][0]["data"] == [35, 20, 5]
    whatsapp = channel["links"][1]
    assert whatsapp == f"/admin/chatusers/chatuser/?bot__id__exact={bot.pk}&channel__exact=whatsapp"
    assert language["labels"] == ["it", "en", "(none)"]
    listed = client.get(whatsapp)
    assert [str(c) for c in listed.context["cl"].result_list] == ["Wanda Rossi"]


def test_feedback_of_the_range_newest_first_linked_and_paginated(client, viewer, bot):
    person = ChatUserFactory(bot=bot, name="Ada")
    first = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    for n in range(23):
        Feedback.objects.create(
            bot=bot,
            remote_id=f"f{n}",
            chatuser=person,
            session_id=f"s{n}",
            rating=n % 5 + 1,
            comment=f"comment {n}",
            created_at=first + timedelta(hours=n),
        )
    Feedback.objects.create(bot=bot, remote_id="before", rating=1, created_at=first - timedelta(seconds=1))
    Feedback.objects.create(
        bot=bot, remote_id="after", rating=1, created_at=datetime(2026, 11, 25, tzinfo=UTC)
    )

    page_one = _page(client, bot, RANGE)
    page_two = _page(client, bot, {**RANGE, "feedback_page": "2"})

    one, two = page_one.context["feedback"], page_two.context["feedback"]
    assert [f.remote_id for f in one.rows] == [f"f{n}" for n in range(22, 2, -1)]
    assert [f.remote_id for f in two.rows] == ["f2", "f1", "f0"]
    assert (one.count, one.has_next, two.has_next) == (23, True, False)
    html = page_one.content.decode()
    assert (
        f'href="/admin/chatusers/chatuser/{person.pk}/change/" title="Ada Rossi\'s page">comment 22</a>'
        in html
    )
    assert f'href="/admin/livechat/chataction/{bot.pk}/s22/">the chat</a>' in html


@pytest.mark.parametrize("days", [7, 365])
def test_the_page_costs_the_same_queries_for_a_week_and_a_year(
    client, viewer, django_assert_num_queries, days
):
    bot = BotFactory()
    start = END - timedelta(days=days - 1)
    store_days(bot, start, END, missing=[END - timedelta(days=2)])
    store_range(bot, start, END)
    Feedback.objects.create(bot=bot, remote_id="f", rating=5, created_at=datetime(2026, 11, 24, tzinfo=UTC))

    url, params = f"/admin/insights/daystats/{bot.pk}/", {"from": start, "to": END}
    client.get(url, params)  # the login's first request saves its session

    # Session, user and two of permissions; the bot and its collection; three day tables (with
    # when each day was read), the weekly NPS, the totals and their days, the audience, the
    # account and the bots set up here; a page of feedback and its capped count.
    with django_assert_num_queries(17):
        response = client.get(url, params)

    assert len(response.context["page_data"]["charts"]["activity"]["labels"]) == days
