"""The live chat pages of the admin: the inbox, a chat, and the acts an operator does there.

They hang off the chat actions' admin (``get_urls``), so they sit in the admin's navigation
and permissions: seeing chats is ``view_chataction``, acting in them ``answer_chats``. The
pages render from JSON that the same views give to the page's script when it reads again
(after a reconnect, or when told a chat changed); the socket carries only news.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from backoffice.admin_site.readonly import ReadOnlyAdmin
from backoffice.userbot.errors import NotFound, TransportError, UserbotError
from backoffice.userbot.models import Bot
from livechat import services
from livechat.access import can_answer_chats, can_view_chats
from livechat.agents import agent_for
from livechat.models import ChatAction
from livechat.selectors import read_inbox, read_transcript
from livechat.services import ChatRefused, HeldByAnother

logger = logging.getLogger(__name__)
REPLY_MAX = 4000


@admin.register(ChatAction)
class ChatActionAdmin(ReadOnlyAdmin):
    """The inbox is this admin's list page; the chat actions show on each chat's page."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        chat = "<int:bot_id>/<str:session_id>/"
        return [
            path("", view(self.inbox), name="livechat_chataction_changelist"),
            path("inbox.json", view(self.inbox_json), name="livechat_inbox_json"),
            path("<int:bot_id>/", view(self.inbox), name="livechat_bot_inbox"),
            path(chat, view(self.chat), name="livechat_chat"),
            path(f"{chat}chat.json", view(self.chat_json), name="livechat_chat_json"),
            path(f"{chat}take-over/", view(require_POST(self.take_over)), name="livechat_take_over"),
            path(f"{chat}hand-back/", view(require_POST(self.hand_back)), name="livechat_hand_back"),
            path(f"{chat}reply/", view(require_POST(self.reply)), name="livechat_reply"),
            path(f"{chat}settle/<int:action_id>/", view(require_POST(self.settle)), name="livechat_settle"),
        ]

    # --- pages ---------------------------------------------------------------------------

    def inbox(self, request: HttpRequest, bot_id: int | None = None) -> HttpResponse:
        _require_view(request)
        bots = _bots(bot_id)
        chatuser = _chatuser_filter(request)
        inbox_url = (
            reverse("admin:livechat_inbox_json")
            + "?"
            + urlencode(
                {key: value for key, value in (("bot", bot_id or ""), ("chatuser", chatuser)) if value}
            )
        )
        title = f"Live chats of {bots[0].name}" if bot_id else "Live chats"
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: one chat user's" if chatuser else title,
            "opts": self.model._meta,
            "bots": bots,
            "bot_id": bot_id,
            "page_data": {
                "kind": "inbox",
                "socket": f"/ws/chats/{bot_id}/" if bot_id else "/ws/chats/",
                "inbox_url": inbox_url,
                "chatuser": chatuser,
                "bots": _inbox_data(request, bots, chatuser=chatuser),
                "me": request.user.pk,
            },
        }
        return TemplateResponse(request, "livechat/inbox.html", context)

    def inbox_json(self, request: HttpRequest) -> JsonResponse:
        _require_view(request)
        bot = request.GET.get("bot")
        bots = _bots(int(bot) if bot and bot.isdigit() else None)
        return JsonResponse({"bots": _inbox_data(request, bots, chatuser=_chatuser_filter(request))})

    def chat(self, request: HttpRequest, bot_id: int, session_id: str) -> HttpResponse:
        _require_view(request)
        bot = get_object_or_404(Bot, pk=bot_id)
        data = _chat_data(request, bot, session_id)
        context = {
            **self.admin_site.each_context(request),
            "title": data["chat"]["chatuser_name"] if data.get("chat") else "Chat",
            "opts": self.model._meta,
            "bot": bot,
            "can_answer": can_answer_chats(request.user),
            "reply_max": REPLY_MAX,
            "page_data": {
                **data,
                "kind": "chat",
                "socket": f"/ws/chats/{bot.pk}/",
                "chat_url": reverse("admin:livechat_chat_json", args=[bot.pk, session_id]),
                "session_id": session_id,
                "me": request.user.pk,
                "can_answer": can_answer_chats(request.user),
                "urls": {
                    name: reverse(f"admin:livechat_{name}", args=[bot.pk, session_id])
                    for name in ("take_over", "hand_back", "reply")
                },
                "settle_url": reverse("admin:livechat_settle", args=[bot.pk, session_id, 0]),
            },
        }
        return TemplateResponse(request, "livechat/chat.html", context)

    def chat_json(self, request: HttpRequest, bot_id: int, session_id: str) -> JsonResponse:
        _require_view(request)
        bot = get_object_or_404(Bot, pk=bot_id)
        return JsonResponse(_chat_data(request, bot, session_id))

    # --- acts ------------------------------------------------------------------------------

    def take_over(self, request: HttpRequest, bot_id: int, session_id: str) -> JsonResponse:
        bot = _bot_to_answer(request, bot_id)
        confirmed = request.POST.get("confirmed") == "1"
        return _run(
            lambda: services.chat_take_over(
                bot=bot, session_id=session_id, operator=request.user, confirmed=confirmed
            )
        )

    def hand_back(self, request: HttpRequest, bot_id: int, session_id: str) -> JsonResponse:
        bot = _bot_to_answer(request, bot_id)
        confirmed = request.POST.get("confirmed") == "1"
        return _run(
            lambda: services.chat_hand_back(
                bot=bot, session_id=session_id, operator=request.user, confirmed=confirmed
            )
        )

    def reply(self, request: HttpRequest, bot_id: int, session_id: str) -> JsonResponse:
        bot = _bot_to_answer(request, bot_id)
        text = request.POST.get("text", "")
        if len(text) > REPLY_MAX:
            return JsonResponse(
                {"ok": False, "error": f"A reply holds at most {REPLY_MAX} characters."}, status=400
            )
        return _run(
            lambda: services.chat_reply(bot=bot, session_id=session_id, text=text, operator=request.user)
        )

    def settle(self, request: HttpRequest, bot_id: int, session_id: str, action_id: int) -> JsonResponse:
        _bot_to_answer(request, bot_id)
        action = get_object_or_404(ChatAction, pk=action_id, bot_id=bot_id, session_id=session_id)
        said = request.POST.get("said") == "1"
        return _run(lambda: services.chat_reply_settle(action=action, operator=request.user, said=said))


def _require_view(request: HttpRequest) -> None:
    if not can_view_chats(request.user):
        raise PermissionDenied


def _bot_to_answer(request: HttpRequest, bot_id: int) -> Bot:
    if not can_answer_chats(request.user):
        raise PermissionDenied
    return get_object_or_404(Bot, pk=bot_id)


def _bots(bot_id: int | None) -> list[Bot]:
    bots = list(Bot.objects.order_by("name", "pk") if bot_id is None else Bot.objects.filter(pk=bot_id))
    if bot_id is not None and not bots:
        raise Http404("No such bot.")
    return bots


def _chatuser_filter(request: HttpRequest) -> str:
    """The Userbot id of the one chat user whose chats are asked for, or ""."""
    return request.GET.get("chatuser", "")[:64]


def _inbox_data(request: HttpRequest, bots: list[Bot], *, chatuser: str = "") -> list[dict[str, Any]]:
    """Each bot's inbox (only ``chatuser``'s chats when given), or why it could not be read:
    one bot down leaves the others."""
    out = []
    for bot in bots:
        entry: dict[str, Any] = {
            "id": bot.pk,
            "name": bot.name,
            "url": reverse("admin:livechat_bot_inbox", args=[bot.pk]),
            "chat_url": reverse("admin:livechat_chat", args=[bot.pk, "SESSION"]),
            "chats": [],
            "error": "",
            "dropped": [],
        }
        try:
            with agent_for(bot, request.user) as agent:
                inbox = read_inbox(bot=bot, agent=agent)
        except (TransportError, UserbotError, ValueError) as exc:
            logger.warning("The chats of bot %s could not be read: %s", bot.pk, exc)
            entry["error"] = f"Could not read the chats from Userbot: {exc}"
        else:
            chats = [c for c in inbox.chats if c["chatuser_id"] == chatuser] if chatuser else inbox.chats
            entry.update(chats=chats, total=inbox.total, dropped=inbox.dropped)
        out.append(entry)
    return out


def _chat_data(request: HttpRequest, bot: Bot, session_id: str) -> dict[str, Any]:
    try:
        with agent_for(bot, request.user) as agent:
            transcript = read_transcript(bot=bot, agent=agent, session_id=session_id)
    except NotFound:
        return {"chat": None, "error": "This chat no longer exists on Userbot.", "gone": True}
    except (TransportError, UserbotError, ValueError) as exc:
        logger.warning("Chat %s of bot %s could not be read: %s", session_id, bot.pk, exc)
        return {"chat": None, "error": f"Could not read the chat from Userbot: {exc}"}
    chat = transcript.chat
    return {
        "chat": chat,
        "messages": transcript.messages,
        "dropped": transcript.dropped,
        "actions": [_action_data(a) for a in transcript.actions],
        "mine": bool(chat["held_by_my_agent"] and chat["holder_operator_id"] == request.user.pk),
        "error": "",
    }


def _action_data(action: ChatAction) -> dict[str, Any]:
    return {
        "id": action.pk,
        "kind": action.kind,
        "label": action.get_kind_display(),
        "text": action.text,
        "state": action.state,
        "state_label": action.get_state_display(),
        "error": action.error,
        "message_id": action.message_id,
        "operator": action.operator.get_full_name() or action.operator.get_username(),
        "at": action.created_at.isoformat(),
    }


def _run(act: Any) -> JsonResponse:
    try:
        action = act()
    except HeldByAnother as exc:
        return JsonResponse({"ok": False, "confirm": str(exc), "holder": exc.holder}, status=409)
    except ChatRefused as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=400)
    except NotFound:
        return JsonResponse({"ok": False, "error": "This chat no longer exists on Userbot."}, status=404)
    except (TransportError, UserbotError) as exc:
        return JsonResponse({"ok": False, "error": f"Userbot could not be reached: {exc}"}, status=502)
    ok = action.state in (ChatAction.State.DONE, ChatAction.State.SETTLED)
    return JsonResponse({"ok": ok, "action": _action_data(action), "error": "" if ok else action.error})
