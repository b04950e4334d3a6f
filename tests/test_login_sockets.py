"""The second factor on WebSockets, through the real ASGI application: a socket of a session
without the required second factor is a stranger's."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client

from backoffice.asgi import application
from chatusers.import_models import ImportJob
from tests.factories import BotFactory
from tests.login_helpers import PASSWORD, confirmed_device, operator, post_login, totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def import_viewer(*, second_factor: bool) -> tuple[Client, int]:
    """A logged-in operator who may view imports, with or without a second factor, and a job."""
    user = operator("ada")
    user.user_permissions.set(Permission.objects.filter(codename="view_importjob"))
    client = Client()
    if second_factor:
        device = confirmed_device(user)
        post_login(client, "ada", PASSWORD, code=totp_code(device))
    else:
        post_login(client, "ada", PASSWORD)
    job = ImportJob.objects.create(bot=BotFactory(), created_by=user, original_name="a.csv", header=["email"])
    return client, job.pk


def socket_opens(client: Client, job_id: int) -> bool:
    async def scenario() -> bool:
        communicator = WebsocketCommunicator(
            application,
            f"/ws/chatusers/imports/{job_id}/",
            headers=[
                (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
                (b"origin", b"http://localhost"),
                (b"host", b"localhost"),
            ],
        )
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    return async_to_sync(scenario)()


def test_a_session_without_the_required_second_factor_cannot_open_a_socket(settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    client, job_id = import_viewer(second_factor=False)

    assert socket_opens(client, job_id) is False


def test_a_session_verified_by_its_second_factor_opens_the_socket(settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    client, job_id = import_viewer(second_factor=True)

    assert socket_opens(client, job_id) is True


def test_without_the_requirement_a_password_session_opens_the_socket(settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = False
    client, job_id = import_viewer(second_factor=False)

    assert socket_opens(client, job_id) is True
