"""The live chat in Chromium, served as in production: operators on a chat's page and the
inbox see a visitor's words within a second, one takes the chat over, another is asked
before taking it from them, one reply reaches Userbot once, and the chat goes back to the
bot; with Redis and with the embedded in-process layer; a viewer only reads; a visitor's
markup stays text; a dropped Userbot connection shows and heals.

The pages are served by Daphne running ``backoffice.asgi:application`` as a process of its
own on the test database (``tests/browser/asgi_server.py``), not by ``live_server`` (WSGI,
no WebSockets) nor by a Daphne in this process: Twisted's reactor runs once per process,
and the live chat's feeds, leases and channel layer are per process and read the layer from
settings, so a subprocess whose environment has ``REDIS_URL`` or not is each topology as it
is deployed, with nothing of the test's own event loop (Playwright's) in between. Static
files come from WhiteNoise in the app, as in the embedded deployment. The production test
runs two Daphne processes, one per operator, so a visitor's message reaches the second
only through Redis.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from playwright.sync_api import APIResponse, Browser, BrowserContext, Dialog, Page, Response, Route, expect

from livechat import services
from livechat.models import ChatAction, ChatFeedLease
from sandbox.runner import SandboxHandle
from tests.browser.asgi_server import Daphne, daphne
from tests.browser.csp import CspWatch
from tests.browser.live_chat_world import (
    chat_operator,
    chat_subscribers,
    ensure_roles,
    logged_in_context,
    open_page,
    sandbox_chatuser,
)
from tests.conftest import SITEKEY

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_MS = 1000  # a visitor's message is on every watching page within a second
TRANSCRIPT = '[data-role="transcript"]'
HEAD_STATE = '[data-role="head"] .livechat-state'


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Daphne]]:
    """``servers(redis=True)`` starts a Daphne process; all are stopped after the test."""
    with ExitStack() as stack:
        count = 0

        def start(*, redis: bool = True) -> Daphne:
            nonlocal count
            count += 1
            return stack.enter_context(daphne(tmp_path / f"daphne-{count}.log", redis=redis))

        yield start


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[[str, Any], BrowserContext]]:
    """``contexts(base_url, user)``: a logged-in browser context, closed after the test."""
    opened: list[BrowserContext] = []

    def log_in(base_url: str, user: Any) -> BrowserContext:
        context = logged_in_context(browser, base_url, user)
        opened.append(context)
        return context

    yield log_in
    for context in opened:
        context.close()


@pytest.fixture(autouse=True)
def _roles() -> None:
    ensure_roles()


def _chat_url(server: Daphne, bot: Any, session_id: str) -> str:
    return f"{server.url}/admin/livechat/chataction/{bot.pk}/{session_id}/"


def _chat_read(response: Response) -> bool:
    return response.url.endswith("/chat.json") and response.status == 200


def _inbox_read(response: Response) -> bool:
    return response.url.split("?")[0].endswith("/inbox.json") and response.status == 200


def _first_watcher(context: BrowserContext, url: str, read: Callable[[Response], bool]) -> Page:
    """Open ``url``, the first page of its server to watch the bot, and return once the bot's
    feed has subscribed and the page has read again (``read``). Pages opened after it get no
    such read, so none is on its way when a visitor writes and a second is measured."""
    page = context.new_page()
    with page.expect_response(read):
        page.goto(url)
    return page


def _live(*pages: Page) -> None:
    for page in pages:
        expect(page.locator('[data-role="status"]')).to_have_text("Live")


def _agent_messages(sandbox: SandboxHandle, session_id: str) -> list[dict[str, Any]]:
    messages = sandbox.store.bots[SITEKEY].messages[session_id]
    return [{"id": m["id"], "text": m["text"]} for m in messages if m["from"] == "agent"]


# What the reply's entries in the transcript are, at every change: "sending…" or "sent"
# while the page's own entry shows, "message" once it is Userbot's message.
REPLY_LOG = """() => {
  window.__replies = [];
  const transcript = document.querySelector('[data-role="transcript"]');
  new MutationObserver(() => window.__replies.push(
    Array.from(transcript.querySelectorAll(".livechat-from-agent"), (node) =>
      node.dataset.message ? "message" : node.querySelector("em").textContent.trim())
  )).observe(transcript, { childList: true, subtree: true, characterData: true });
}"""


def test_two_operators_on_two_processes_see_the_chat_live_and_one_takes_over_and_replies_once(
    sandbox: SandboxHandle, bot: Any, servers: Callable[..., Daphne], contexts: Callable[..., BrowserContext]
) -> None:
    ann = chat_operator("ann", "chat agent", "Ann", "Archer")
    bob = chat_operator("bob", "chat agent", "Bob", "Baker")
    sandbox_chatuser(bot, "Ada", "Lovelace", "webchat")
    chat = sandbox.open_chat(SITEKEY)
    first, second = servers(redis=True), servers(redis=True)
    ann_context, bob_context = contexts(first.url, ann), contexts(second.url, bob)
    ann_chat = _first_watcher(ann_context, _chat_url(first, bot, chat["id"]), _chat_read)
    ann_inbox = open_page(ann_context, f"{first.url}/admin/livechat/chataction/{bot.pk}/")
    bob_chat = open_page(bob_context, _chat_url(second, bot, chat["id"]))
    _live(ann_chat, ann_inbox, bob_chat)
    assert chat_subscribers(sandbox, SITEKEY) == 1

    # A visitor writes: every page shows it within a second, through one subscription.
    said = sandbox.visitor_says(SITEKEY, chat["id"], "Is my order on its way?")
    for page in (ann_chat, bob_chat):
        expect(page.locator(f'{TRANSCRIPT} [data-message="{said["id"]}"] p')).to_have_text(
            "Is my order on its way?", timeout=LIVE_MS
        )
    row = ann_inbox.locator(f'tr[data-session="{chat["id"]}"]')
    expect(row.locator(".livechat-last")).to_have_text("Is my order on its way?", timeout=LIVE_MS)
    expect(row.locator(".livechat-unread")).to_have_text("1")
    assert chat_subscribers(sandbox, SITEKEY) == 1

    # Ann takes it over: Bob's page names her and keeps his reply box shut.
    ann_chat.bring_to_front()
    ann_chat.get_by_role("button", name="Take over").click()
    expect(ann_chat.locator('[data-role="mine"]')).to_have_text(" · you hold this chat")
    expect(bob_chat.locator('[data-role="head"]')).to_contain_text("held by Ann Archer")
    expect(bob_chat.get_by_role("button", name="Send")).to_be_disabled()
    expect(bob_chat.locator('[data-role="reply-note"]')).to_have_text("Take the chat over to reply.")
    expect(row.locator("td").nth(4)).to_have_text("Ann Archer")

    # Bob tries to take it: the page asks first, naming Ann; he says no, and nothing moves.
    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    bob_chat.once("dialog", dismiss)
    with (
        bob_chat.expect_event("dialog"),
        bob_chat.expect_response(lambda r: r.url.endswith("/take-over/")) as answer,
    ):
        bob_chat.get_by_role("button", name="Take over").click()
    assert answer.value.status == 409
    assert asked == ["confirm: Ann Archer holds this chat. Take it over anyway?"]
    takeovers = ChatAction.objects.filter(kind=ChatAction.Kind.TAKE_OVER)
    assert list(takeovers.values_list("operator__username", "state")) == [("ann", "done")]
    assert sandbox.store.bots[SITEKEY].sessions[chat["id"]]["status"] == "agent"
    expect(bob_chat.locator('[data-role="head"]')).to_contain_text("held by Ann Archer")
    expect(bob_chat.get_by_role("button", name="Send")).to_be_disabled()

    # Ann replies: her transcript has it as sent, Bob's shows it, Userbot got it once.
    ann_chat.evaluate(REPLY_LOG)
    ann_chat.get_by_label("Reply").fill("Yes, it ships today.")
    ann_chat.get_by_role("button", name="Send").click()
    expect(ann_chat.locator('[data-role="acts"] li span').last).to_have_text(
        "Ann Archer · Replied · Sent: Yes, it ships today."
    )
    (sent,) = _agent_messages(sandbox, chat["id"])
    assert sent["text"] == "Yes, it ships today."
    for page in (ann_chat, bob_chat):
        expect(page.locator(f"{TRANSCRIPT} .livechat-from-agent p")).to_have_text(["Yes, it ships today."])
        expect(page.locator(f"{TRANSCRIPT} .livechat-from-agent")).to_have_attribute(
            "data-message", sent["id"]
        )
    expect(ann_chat.locator(".livechat-pending")).to_have_count(0)
    # Never the reply twice once Userbot answered: as "sent" and as the transcript's message.
    shown = [entries for entries in ann_chat.evaluate("window.__replies") if entries]
    assert shown[0] == ["sending…"]
    assert shown[-1] == ["message"]
    assert [s for s in shown if "sent" in s and "message" in s] == []

    # Ann hands it back: both pages say the bot has it.
    ann_chat.get_by_role("button", name="Hand back to the bot").click()
    for page in (ann_chat, bob_chat):
        expect(page.locator(HEAD_STATE)).to_have_text("With the bot")
    expect(row.locator(".livechat-state")).to_have_text("With the bot")
    assert _agent_messages(sandbox, chat["id"]) == [sent]
    assert ChatAction.objects.filter(kind=ChatAction.Kind.REPLY).count() == 1
    assert chat_subscribers(sandbox, SITEKEY) == 1


def test_the_embedded_in_process_layer_carries_the_chat_live_and_a_reply_reaches_userbot_once(
    sandbox: SandboxHandle, bot: Any, servers: Callable[..., Daphne], contexts: Callable[..., BrowserContext]
) -> None:
    store = redis.Redis.from_url(settings.REDIS_URL)
    group_key = f"asgi:group:bot.{bot.pk}.chats"
    store.delete(group_key)  # a bot of an earlier run may have had this id
    ann = chat_operator("ann", "chat agent", "Ann", "Archer")
    chat = sandbox.open_chat(SITEKEY)
    server = servers(redis=False)
    page = _first_watcher(contexts(server.url, ann), _chat_url(server, bot, chat["id"]), _chat_read)
    _live(page)

    said = sandbox.visitor_says(SITEKEY, chat["id"], "Hello from the embedded set-up")
    expect(page.locator(f'{TRANSCRIPT} [data-message="{said["id"]}"] p')).to_have_text(
        "Hello from the embedded set-up", timeout=LIVE_MS
    )
    page.get_by_role("button", name="Take over").click()
    expect(page.locator('[data-role="mine"]')).to_have_text(" · you hold this chat")
    page.get_by_label("Reply").fill("Hello, Ann here.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(f"{TRANSCRIPT} .livechat-from-agent p")).to_have_text(["Hello, Ann here."])
    expect(page.locator('[data-role="acts"] li span').last).to_have_text(
        "Ann Archer · Replied · Sent: Hello, Ann here."
    )

    (sent,) = _agent_messages(sandbox, chat["id"])
    assert sent["text"] == "Hello, Ann here."
    expect(page.locator(f"{TRANSCRIPT} .livechat-from-agent")).to_have_attribute("data-message", sent["id"])
    assert chat_subscribers(sandbox, SITEKEY) == 1
    assert store.exists(group_key) == 0  # nothing of the bot's news went through Redis


def test_a_viewer_reads_the_chat_without_buttons_and_the_act_endpoints_refuse_them(
    sandbox: SandboxHandle, bot: Any, servers: Callable[..., Daphne], contexts: Callable[..., BrowserContext]
) -> None:
    vera = chat_operator("vera", "viewer", "Vera", "Viewer")
    chat = sandbox.open_chat(SITEKEY)
    said = sandbox.visitor_says(SITEKEY, chat["id"], "Can someone help me?")
    server = servers()
    context = contexts(server.url, vera)
    page = open_page(context, _chat_url(server, bot, chat["id"]))
    _live(page)

    expect(page.locator(f"{TRANSCRIPT} .livechat-message p")).to_have_text(["Can someone help me?"])
    expect(page.locator(f'{TRANSCRIPT} [data-message="{said["id"]}"]')).to_have_count(1)
    expect(page.locator("[data-act]")).to_have_count(0)
    expect(page.locator('[data-role="reply"]')).to_have_count(0)
    expect(page.locator("textarea")).to_have_count(0)
    expect(page.locator(".livechat-chat > p.help")).to_have_text(
        "You may read this chat; taking it over and replying needs the chat agent role."
    )

    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    answers = {
        name: page.evaluate(
            """async ([url, token]) => {
                const response = await fetch(url, {method: "POST", body: new URLSearchParams({text: "Hi"}),
                    headers: {"X-CSRFToken": token}, credentials: "same-origin"});
                return [response.status, await response.text()];
            }""",
            [f"{_chat_url(server, bot, chat['id'])}{name}/", token],
        )
        for name in ("reply", "take-over", "hand-back")
    }
    assert {name: status for name, (status, _) in answers.items()} == {
        "reply": 403,
        "take-over": 403,
        "hand-back": 403,
    }
    for _, body in answers.values():
        assert "<h1>403 Forbidden</h1>" in body
        assert "CSRF" not in body  # refused for who she is, not for a missing token
    assert _agent_messages(sandbox, chat["id"]) == []
    assert sandbox.store.bots[SITEKEY].sessions[chat["id"]]["status"] == "bot"
    assert ChatAction.objects.count() == 0


def test_markup_in_a_visitors_message_is_shown_as_text_and_never_runs(
    sandbox: SandboxHandle, bot: Any, servers: Callable[..., Daphne], contexts: Callable[..., BrowserContext]
) -> None:
    ann = chat_operator("ann", "chat agent", "Ann", "Archer")
    chat = sandbox.open_chat(SITEKEY)
    image = '<img src=x onerror="window.__ran = (window.__ran || 0) + 1">'
    script = "<script>window.__ran = (window.__ran || 0) + 1</script>"
    sandbox.visitor_says(SITEKEY, chat["id"], image)  # in the page as it opens
    server = servers()
    context = contexts(server.url, ann)
    page = context.new_page()
    inbox = context.new_page()
    requested: list[str] = []
    watches = [CspWatch(page), CspWatch(inbox)]
    for tab in (page, inbox):
        tab.on("request", lambda request: requested.append(request.url))
    with page.expect_response(_chat_read):  # see _first_watcher
        page.goto(_chat_url(server, bot, chat["id"]))
    inbox.goto(f"{server.url}/admin/livechat/chataction/{bot.pk}/")
    _live(page, inbox)

    sandbox.visitor_says(SITEKEY, chat["id"], script)  # and as news, live
    expect(page.locator(f"{TRANSCRIPT} .livechat-message p")).to_have_text([image, script], timeout=LIVE_MS)
    row = inbox.locator(f'tr[data-session="{chat["id"]}"]')
    expect(row.locator(".livechat-last")).to_have_text(script, timeout=LIVE_MS)

    for tab, shown in ((inbox, '[data-role="inbox"]'), (page, TRANSCRIPT)):
        assert tab.locator(f"{shown} img, {shown} script").count() == 0
        assert tab.evaluate("window.__ran") is None
    assert [url for url in requested if url.endswith("/x")] == []
    for watch in watches:
        watch.assert_clean()


STATUS_LOG = """
window.__statuses = [];
document.addEventListener("DOMContentLoaded", () => {
  const line = document.querySelector('[data-role="status"]');
  new MutationObserver((records) => records.forEach((record) =>
    record.addedNodes.forEach((node) => window.__statuses.push(node.textContent))
  )).observe(line, { childList: true });
});
"""


def test_a_dropped_userbot_connection_shows_reconnecting_and_the_page_catches_up(
    sandbox: SandboxHandle, bot: Any, servers: Callable[..., Daphne], contexts: Callable[..., BrowserContext]
) -> None:
    ann = chat_operator("ann", "chat agent", "Ann", "Archer")
    chat = sandbox.open_chat(SITEKEY)
    server = servers()
    context = contexts(server.url, ann)
    context.add_init_script(STATUS_LOG)
    page = context.new_page()
    # "Live" when the page's socket opens, "Live" again when the feed has subscribed, and
    # then the page reads the chat again: all of it before Userbot's connection drops.
    with page.expect_response(_chat_read):
        page.goto(_chat_url(server, bot, chat["id"]))
        page.wait_for_function("() => window.__statuses.filter((s) => s === 'Live').length === 2")
    assert chat_subscribers(sandbox, SITEKEY) == 1
    page.evaluate("window.__statuses = []")

    with page.expect_response(_chat_read):  # read again once Userbot is back
        assert sandbox.drop_connections() >= 1
        during = sandbox.visitor_says(SITEKEY, chat["id"], "Hello? Did you get that?")
        page.wait_for_function("() => window.__statuses.length >= 2")
    assert page.evaluate("window.__statuses") == ["Reconnecting to Userbot…", "Live"]
    expect(page.locator(f'{TRANSCRIPT} [data-message="{during["id"]}"] p')).to_have_text(
        "Hello? Did you get that?"
    )

    after = sandbox.visitor_says(SITEKEY, chat["id"], "Still there?")
    expect(page.locator(f"{TRANSCRIPT} .livechat-message p")).to_have_text(
        ["Hello? Did you get that?", "Still there?"], timeout=LIVE_MS
    )
    expect(page.locator(f'{TRANSCRIPT} [data-message="{after["id"]}"]')).to_have_count(1)
    assert chat_subscribers(sandbox, SITEKEY) == 1


def test_a_read_that_userbot_answered_before_a_visitors_message_does_not_take_it_off_the_page(
    sandbox: SandboxHandle, bot: Any, servers: Callable[..., Daphne], contexts: Callable[..., BrowserContext]
) -> None:
    ann = chat_operator("ann", "chat agent", "Ann", "Archer")
    chat = sandbox.open_chat(SITEKEY)
    server = servers()
    page = contexts(server.url, ann).new_page()
    with page.expect_response(_chat_read):  # the read once the feed has subscribed
        page.goto(_chat_url(server, bot, chat["id"]))
    held: list[tuple[Route, APIResponse]] = []
    page.route("**/chat.json", lambda route: held.append((route, route.fetch())))

    sandbox.ask_for_human(SITEKEY, chat["id"])  # the page reads the chat again
    deadline = time.monotonic() + 10
    while not held:  # Userbot has answered the read; the page waits for it
        assert time.monotonic() < deadline, "the page did not read the chat again"
        page.wait_for_timeout(20)
    said = sandbox.visitor_says(SITEKEY, chat["id"], "Are you still there?")
    message = page.locator(f'{TRANSCRIPT} [data-message="{said["id"]}"] p')
    expect(message).to_have_text("Are you still there?", timeout=LIVE_MS)
    route, answer = held[0]
    assert answer.json()["messages"] == []
    with page.expect_response(_chat_read):
        route.fulfill(response=answer)

    expect(page.locator(HEAD_STATE)).to_have_text("Waiting for an agent")  # the read is shown
    expect(page.locator(f"{TRANSCRIPT} .livechat-message p")).to_have_text(["Are you still there?"])
    assert len(held) == 1


TOMORROW = "It left Bologna this morning: it will be with you tomorrow before noon."


def test_the_inbox_and_a_held_chat_as_an_operator_sees_them(
    sandbox: SandboxHandle, bot: Any, servers: Callable[..., Daphne], contexts: Callable[..., BrowserContext]
) -> None:
    """Screenshots at 1400 x 900 for a person to look at, in the system's temporary directory."""
    ann = chat_operator("ann", "chat agent", "Ann", "Archer")
    people = {
        name: sandbox_chatuser(bot, name, surname, channel)
        for name, surname, channel in (
            ("Ada", "Lovelace", "webchat"),
            ("Bartholomew", "Fitzgerald-Wellington", "whatsapp"),
            ("Chiara", "Bianchi", "telegram"),
            ("Dario", "Rossi", "messenger"),
        )
    }
    held = sandbox.open_chat(SITEKEY, chatuser_id=people["Ada"])
    sandbox.visitor_says(
        SITEKEY, held["id"], "Hi, I ordered a desk lamp last week (order 4471) and it has not arrived."
    )
    services.chat_take_over(bot=bot, session_id=held["id"], operator=ann)
    services.chat_reply(
        bot=bot, session_id=held["id"], text="Sorry about that! Let me look it up for you.", operator=ann
    )
    sandbox.visitor_says(
        SITEKEY, held["id"], "Thank you. The tracking page says it is in Bologna since Monday."
    )
    services.chat_reply(bot=bot, session_id=held["id"], text=TOMORROW, operator=ann)
    waiting = sandbox.open_chat(SITEKEY, chatuser_id=people["Bartholomew"])
    sandbox.visitor_says(
        SITEKEY,
        waiting["id"],
        "I would like to change the delivery address of my order to my office, which is at "
        "Via dei Calzaiuoli 12, Florence, third floor, reception desk on the left.",
    )
    sandbox.ask_for_human(SITEKEY, waiting["id"])
    with_bot = sandbox.open_chat(SITEKEY, chatuser_id=people["Chiara"])
    sandbox.visitor_says(SITEKEY, with_bot["id"], "What are your opening hours?")
    closed = sandbox.open_chat(SITEKEY, chatuser_id=people["Dario"])
    sandbox.visitor_says(SITEKEY, closed["id"], "Thanks, bye!")
    sandbox.close_chat(SITEKEY, closed["id"])
    server = servers()
    context = contexts(server.url, ann)
    folder = Path(tempfile.gettempdir()) / "livechat-screenshots"
    folder.mkdir(exist_ok=True)

    inbox = _first_watcher(context, f"{server.url}/admin/livechat/chataction/", _inbox_read)
    _live(inbox)
    sandbox.visitor_says(SITEKEY, waiting["id"], "Hello? Is anyone there?")
    rows = inbox.locator(".livechat-inbox tbody tr")
    expect(rows.first.locator(".livechat-unread")).to_have_text("1", timeout=LIVE_MS)
    expect(rows.locator("td:nth-child(2)")).to_have_text(
        ["Bartholomew Fitzgerald-Wellington", "Ada Lovelace", "Chiara Bianchi"]
    )
    expect(rows.locator(".livechat-state")).to_have_text(
        ["Waiting for an agent", "With an agent", "With the bot"]
    )
    expect(rows.locator("td:nth-child(5)")).to_have_text(["nobody yet", "Ann Archer", "the bot"])
    expect(inbox.locator(".livechat-counts")).to_have_text("3 shown, 1 waiting for an agent")
    heading = inbox.locator(".livechat-bot h2 a")
    expect(heading).to_have_text("Test bot")
    assert heading.evaluate("(a) => getComputedStyle(a).color === getComputedStyle(a.parentNode).color")
    inbox.screenshot(path=str(folder / "inbox.png"))

    page = open_page(context, _chat_url(server, bot, held["id"]))
    _live(page)
    expect(page.locator(f"{TRANSCRIPT} .livechat-who")).to_have_text(["Visitor", "Agent", "Visitor", "Agent"])
    expect(page.locator('[data-role="mine"]')).to_have_text(" · you hold this chat")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.locator('[data-role="head"] p').first).to_have_text("Ada Lovelace · webchat")
    expect(page.locator('[data-role="error"]')).to_be_hidden()
    expect(page.locator('[data-role="acts"] li span')).to_have_text(
        [
            "Ann Archer · Took over",
            "Ann Archer · Replied · Sent: Sorry about that! Let me look it up for you.",
            f"Ann Archer · Replied · Sent: {TOMORROW}",
        ]
    )
    page.get_by_label("Reply").fill("Is there anything else I can do for you?")
    page.screenshot(path=str(folder / "chat.png"))
    print(f"screenshots: {folder / 'inbox.png'} {folder / 'chat.png'}")


def test_when_the_process_holding_the_subscription_dies_another_takes_it_over(
    sandbox: SandboxHandle,
    bot: Any,
    servers: Callable[..., Daphne],
    contexts: Callable[..., BrowserContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVECHAT_FEED_LEASE_S", "2")  # the servers' lease, so the test is short
    ann = chat_operator("ann", "chat agent", "Ann", "Archer")
    bob = chat_operator("bob", "chat agent", "Bob", "Baker")
    chat = sandbox.open_chat(SITEKEY)
    first, second = servers(redis=True), servers(redis=True)
    holder_page = _first_watcher(contexts(first.url, ann), _chat_url(first, bot, chat["id"]), _chat_read)
    other_page = open_page(contexts(second.url, bob), _chat_url(second, bot, chat["id"]))
    _live(holder_page, other_page)
    assert f":{first.process.pid}:" in ChatFeedLease.objects.get(bot=bot).holder
    assert chat_subscribers(sandbox, SITEKEY) == 1

    first.process.kill()  # no goodbye: its lease simply stops being renewed
    first.process.wait()
    deadline = time.monotonic() + 15
    while f":{second.process.pid}:" not in ChatFeedLease.objects.get(bot=bot).holder:
        assert time.monotonic() < deadline, "no process took the subscription over"
        time.sleep(0.1)
    while chat_subscribers(sandbox, SITEKEY) != 1:
        assert time.monotonic() < deadline, "the new holder did not subscribe"
        time.sleep(0.1)
    sandbox.visitor_says(SITEKEY, chat["id"], "Is anyone still there?")

    expect(other_page.locator(f"{TRANSCRIPT} .livechat-from-user p").last).to_have_text(
        "Is anyone still there?", timeout=LIVE_MS
    )
    _live(other_page)
