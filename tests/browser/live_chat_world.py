"""People and chats for the live chat's browser tests: operators in their roles, logged in
through the admin's login form with their authenticator app's code, chat users on the
sandbox mirrored here, and what the sandbox's chat subscription looks like."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from backoffice.userbot import api
from backoffice.userbot.connections import client_for
from backoffice.userbot.models import Bot
from sandbox.runner import SandboxHandle
from tests.factories import ChatUserFactory
from tests.login_helpers import PASSWORD, confirmed_device, operator, totp_code

VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
TIMEOUT_MS = 10_000
_roles = importlib.import_module("backoffice.accounts.migrations.0002_roles")


def ensure_roles() -> None:
    """The role groups with their permissions: the migration made them, but the flush after a
    transactional test empties every table, groups included."""
    _roles.create_roles(apps, SimpleNamespace(connection=connection))


def chat_operator(username: str, role: str, first_name: str, last_name: str) -> Any:
    """A staff user in the group ``role``, with a confirmed authenticator app."""
    user = operator(username, first_name=first_name, last_name=last_name)
    user.groups.add(Group.objects.get(name=role))
    confirmed_device(user)
    return user


def logged_in_context(browser: Browser, base_url: str, user: Any) -> BrowserContext:
    """A browser context of its own, logged in as ``user`` through the login form."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", totp_code(TOTPDevice.objects.get(user=user)))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/admin/")
    page.close()
    return context


def open_page(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    return page


def sandbox_chatuser(bot: Bot, name: str, surname: str, channel: str) -> str:
    """A chat user made on the sandbox as any client would (``chatusers.create``) and mirrored
    here, so pages name them; their Userbot id."""
    client = client_for(bot)
    try:
        client.connect()
        (created,) = client.call(
            api.chatusers_create([{"name": name, "surname": surname, "channel": channel}])
        )["chatusers"]
    finally:
        client.close()
    ChatUserFactory(bot=bot, remote_id=created["id"], name=name, surname=surname, channel=channel)
    return str(created["id"])


def chat_subscribers(sandbox: SandboxHandle, sitekey: str) -> int:
    """How many connections to ``sitekey`` are subscribed to its chats, counted on the
    sandbox's own loop (its set of connections changes there)."""
    return sandbox._on_loop(
        lambda: sum(
            1
            for s in sandbox.server.sessions
            if "chat" in s.topics and s.bot is not None and s.bot.sitekey == sitekey
        )
    )
