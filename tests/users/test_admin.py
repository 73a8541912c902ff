"""Staff in the Django admin, through the real ASGI application."""

import re

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from tests.conftest import client
from users.models import ApiToken, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db: None) -> User:
    """A staff superuser who may use the admin."""
    return User.objects.create_superuser(
        email="admin@example.com", name="Admin", password="correct horse battery"
    )


def _log_in(api: httpx.AsyncClient, user: User) -> None:
    """Give the client a session cookie for `user`, as logging in would."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    api.cookies.set("sessionid", session.session_key or "")


async def _submit_add_form(
    api: httpx.AsyncClient,
    fields: dict[str, str],
    model: str = "user",
    *,
    follow_redirects: bool = False,
) -> httpx.Response:
    """Open an admin add form of users.<model> and post `fields` with its CSRF token."""
    url = f"/admin/users/{model}/add/"
    form = await api.get(url)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert match is not None
    return await api.post(
        url,
        data={"csrfmiddlewaretoken": match.group(1), **fields},
        headers={"Referer": str(form.url)},  # Django checks it on HTTPS
        follow_redirects=follow_redirects,
    )


async def test_staff_sees_user_list_with_search(
    api: httpx.AsyncClient, staff: User, ann: User, bob: User
) -> None:
    """The changelist searches by name and shows the email column."""
    await sync_to_async(_log_in)(api, staff)

    response = await api.get("/admin/users/user/", params={"q": "ann"})

    assert response.status_code == 200
    assert "ann@example.com" in response.text
    assert "bob@example.com" not in response.text


async def test_changelist_filters_by_staff(
    api: httpx.AsyncClient, staff: User, ann: User
) -> None:
    """The staff filter narrows the list."""
    await sync_to_async(_log_in)(api, staff)

    response = await api.get("/admin/users/user/", params={"is_staff__exact": "1"})

    assert "admin@example.com" in response.text
    assert "ann@example.com" not in response.text


async def test_non_staff_is_sent_to_login(api: httpx.AsyncClient, ann: User) -> None:
    """A user who is not staff cannot see the admin."""
    await sync_to_async(_log_in)(api, ann)

    response = await api.get("/admin/users/user/")

    assert response.status_code == 302
    assert "/admin/login/" in response.headers["Location"]


async def test_staff_adds_user_with_password(
    api: httpx.AsyncClient, staff: User
) -> None:
    """The admin's add form creates a user who can log in by email."""
    await sync_to_async(_log_in)(api, staff)

    response = await _submit_add_form(
        api,
        {
            "email": "new@example.com",
            "name": "New",
            "age": "20",
            "usable_password": "true",
            "password1": "a long unusual passphrase",
            "password2": "a long unusual passphrase",
        },
    )

    assert response.status_code == 302
    user = await User.objects.aget(email="new@example.com")
    assert (user.name, user.age) == ("New", 20)
    assert user.check_password("a long unusual passphrase")


async def test_admin_add_with_email_in_other_case_is_a_form_error(
    api: httpx.AsyncClient, staff: User, ann: User
) -> None:
    """A case-variant of a taken email is refused by the form, not a 500."""
    await sync_to_async(_log_in)(api, staff)

    response = await _submit_add_form(
        api,
        {
            "email": "ANN@example.com",
            "name": "Imposter",
            "usable_password": "false",
        },
    )

    assert response.status_code == 200
    assert "already exists" in response.text
    assert await User.objects.filter(is_staff=False).acount() == 1


async def test_token_made_in_admin_is_shown_once_and_works(
    api: httpx.AsyncClient, staff: User, ann: User
) -> None:
    """Adding a token in the admin shows it once; only its digest is stored."""
    await sync_to_async(_log_in)(api, staff)

    response = await _submit_add_form(
        api,
        {
            "user": str(ann.pk),
            "name": "laptop",
            "expires_at_0": "",
            "expires_at_1": "",
            "revoked_at_0": "",
            "revoked_at_1": "",
        },
        "apitoken",
        follow_redirects=True,
    )

    shown = re.search(r"The new token is ([0-9a-f]+\.[\w-]+)", response.text)
    assert shown is not None
    raw = shown.group(1)
    token = await ApiToken.objects.select_related("user").aget(name="laptop")
    assert (token.user, token.prefix) == (ann, raw.split(".")[0])
    assert raw not in token.digest
    me = await client(raw).get("/api/users/me")
    assert me.json()["id"] == ann.pk
    again = await api.get("/admin/users/apitoken/")
    assert raw not in again.text
