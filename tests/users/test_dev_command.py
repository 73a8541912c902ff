"""`manage.py dev`: a usable development server at once, never in production (#18)."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django import Settings

from users.models import ApiToken, User
from users.tokens import token_authenticate

pytestmark = pytest.mark.django_db


def _dev() -> str:
    out = io.StringIO()
    call_command("dev", "--no-serve", stdout=out)
    return out.getvalue()


def test_it_refuses_to_run_without_debug(settings: Settings) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=true"):
        _dev()
    assert not User.objects.filter(email="dev@example.com").exists()


def test_it_makes_a_staff_account_and_prints_its_token_once(
    settings: Settings,
) -> None:
    settings.DEBUG = True

    first = _dev()
    second = _dev()

    token = re.search(r"token\s+(\S+)", first)
    assert token is not None
    api_token = token_authenticate(token.group(1))
    assert api_token is not None
    assert (api_token.user.email, api_token.user.is_staff) == ("dev@example.com", True)
    assert "http://127.0.0.1:8000/api/docs" in first
    assert re.search(r"^\s+token\s", second, re.M) is None  # printed once
    assert User.objects.filter(email="dev@example.com").count() == 1
    assert ApiToken.objects.count() == 1
