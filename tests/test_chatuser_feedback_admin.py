"""A chat user's page shows their feedback and ratings, newest first, each with its chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatusers.admin.chatuser_feedback import FEEDBACK_SHOWN
from chatusers.models import Feedback
from tests.factories import BotFactory, ChatUserFactory

pytestmark = pytest.mark.django_db

GIVEN = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _feedback(chatuser: Any, n: int, **fields: Any) -> Feedback:
    values = {"rating": n % 5 + 1, "comment": f"comment {n}", "session_id": f"s{n}"} | fields
    return Feedback.objects.create(
        bot=chatuser.bot,
        remote_id=f"f{n}",
        chatuser=chatuser,
        created_at=GIVEN + timedelta(hours=n),
        **values,
    )


def _history(html: str) -> str:
    start = html.index('<table class="feedback-history">')
    return html[start : html.index("</table>", start)]


def test_a_chat_users_page_lists_their_feedback_newest_first_with_its_chat(admin_client):
    bot = BotFactory()
    ada, bea = ChatUserFactory(bot=bot, name="Ada"), ChatUserFactory(bot=bot, name="Bea")
    _feedback(ada, 0, rating=2, comment="<b>slow</b>")
    _feedback(ada, 1, rating=5, comment="", session_id="")
    _feedback(bea, 2, comment="not Ada's")

    html = admin_client.get(f"/admin/chatusers/chatuser/{ada.pk}/change/").content.decode()

    history = _history(html)
    assert history.index("(no comment)") < history.index("&lt;b&gt;slow&lt;/b&gt;")
    assert '<td class="num">5/5</td><td>(no comment)</td><td>-</td>' in history
    assert (
        '<td class="num">2/5</td><td>&lt;b&gt;slow&lt;/b&gt;</td>'
        f'<td><a href="/admin/livechat/chataction/{bot.pk}/s0/">the chat</a>' in history
    )
    assert "not Ada" not in history
    assert "All of their feedback" not in html


def test_past_the_newest_the_page_links_to_all_their_feedback(admin_client):
    ada = ChatUserFactory(name="Ada")
    for n in range(FEEDBACK_SHOWN + 1):
        _feedback(ada, n)

    html = admin_client.get(f"/admin/chatusers/chatuser/{ada.pk}/change/").content.decode()

    assert _history(html).count("<tr>") == FEEDBACK_SHOWN + 1  # with the header's
    assert "comment 0<" not in _history(html) and f"comment {FEEDBACK_SHOWN}<" in _history(html)
    listed = admin_client.get(f"/admin/chatusers/feedback/?chatuser__id__exact={ada.pk}")
    assert f'href="/admin/chatusers/feedback/?chatuser__id__exact={ada.pk}">All of their feedback' in html
    assert listed.context["cl"].result_count == FEEDBACK_SHOWN + 1


def test_a_chat_user_without_feedback_says_so(admin_client):
    ada = ChatUserFactory(name="Ada")

    html = admin_client.get(f"/admin/chatusers/chatuser/{ada.pk}/change/").content.decode()

    assert "Feedback and ratings" in html and "None yet." in html
