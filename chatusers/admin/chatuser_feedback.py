"""A chat user's feedback and ratings on their own page: a read-only block rather than an
inline, since feedback is Userbot's and never edited here (an inline would also add a
formset every save of the page must carry)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.safestring import SafeString

from backoffice.admin_site.dates import moment_html
from backoffice.admin_site.markup import markup, markup_join
from chatusers.models import ChatUser, Feedback

# The newest this many are shown; the feedback list filtered to the chat user has the rest.
FEEDBACK_SHOWN = 20


class ChatUserFeedbackMixin:
    """The ``feedback_history`` read-only field: the chat user's feedback, newest first."""

    @admin.display(description="feedback and ratings")
    def feedback_history(self, obj: ChatUser) -> SafeString | str:
        """Each feedback's moment, rating, comment and a link to its chat (named by URL:
        chat users do not import live chat). One query."""
        given = list(
            Feedback.objects.filter(chatuser=obj).order_by("-created_at", "-pk")[: FEEDBACK_SHOWN + 1]
        )
        if not given:
            return "None yet."
        rows = markup_join(
            "",
            '<tr><td>{}</td><td class="num">{}/5</td><td>{}</td><td>{}</td></tr>',
            (
                (moment_html(item.created_at), item.rating, item.comment or "(no comment)", _chat_link(item))
                for item in given[:FEEDBACK_SHOWN]
            ),
        )
        more = ""
        if len(given) > FEEDBACK_SHOWN:
            url = reverse("admin:chatusers_feedback_changelist") + f"?chatuser__id__exact={obj.pk}"
            more = markup('<p><a href="{}">All of their feedback</a></p>', url)
        return markup(
            '<table class="feedback-history"><thead><tr><th scope="col">Given</th><th scope="col">Rating</th>'
            '<th scope="col">Comment</th><th scope="col">Chat</th></tr></thead><tbody>{}</tbody></table>{}',
            rows,
            more,
        )


def _chat_link(item: Feedback) -> SafeString | str:
    if not item.session_id:
        return "-"
    url = reverse("admin:livechat_chat", args=[item.bot_id, item.session_id])
    return markup('<a href="{}">the chat</a>', url)
