"""Django's system checks pass: `manage.py migrate`, `up` and every command run them first,
and an admin the checks refuse stops the product from starting."""

from __future__ import annotations

from django.core.management import call_command


def test_the_system_checks_find_no_error():
    call_command("check", fail_level="ERROR")
