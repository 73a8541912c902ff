"""Staff in the Django admin, through the real ASGI application.

(Over 300 lines: the admin's pages for users and tokens, and its log-in,
one subject.)
"""

import re

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from pytest_django import Settings

from tests import factories
from tests.helpers import client, csrf_token, log_in
from users import tokens
from users.models import ApiToken, User

pytestmark = pytest.mark.django_db

PASSWORD = "a long unusual passphrase"


@pytest.fixture
def staff(db: None) -> User:
    """A staff superuser who may use the admin."""
    return User.objects.create_superuser(
        email="admin@example.com", name="Admin", password="correct horse battery"
    )


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
    token = csrf_token(form)
    return await api.post(
        url,
        data={"csrfmiddlewaretoken": token, **fields},
        headers={"Referer": str(form.url)},  # Django checks it on HTTPS
        follow_redirects=follow_redirects,
    )


async def test_staff_sees_user_list_with_search(
    api: httpx.AsyncClient, staff: User, ann: User, bob: User
) -> None:
    """The changelist searches by name and shows the email column."""
    await sync_to_async(log_in)(api, staff)

    response = await api.get("/admin/users/user/", params={"q": "ann"})

    assert response.status_code == 200
    assert "ann@example.com" in response.text
    assert "bob@example.com" not in response.text


async def test_changelist_filters_by_staff(
    api: httpx.AsyncClient, staff: User, ann: User
) -> None:
    """The staff filter narrows the list."""
    await sync_to_async(log_in)(api, staff)

    response = await api.get("/admin/users/user/", params={"is_staff__exact": "1"})

    assert "admin@example.com" in response.text
    assert "ann@example.com" not in response.text


async def test_non_staff_is_sent_to_login(api: httpx.AsyncClient, ann: User) -> None:
    """A user who is not staff cannot see the admin."""
    await sync_to_async(log_in)(api, ann)

    response = await api.get("/admin/users/user/")

    assert response.status_code == 302
    assert "/admin/login/" in response.headers["Location"]


async def test_staff_adds_user_with_password(
    api: httpx.AsyncClient, staff: User
) -> None:
    """The admin's add form creates a user who can log in by email."""
    await sync_to_async(log_in)(api, staff)

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
    await sync_to_async(log_in)(api, staff)

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


@pytest.mark.parametrize(
    ("email", "error"),
    [
        # Fullwidth ann@example.com: the form field refuses the fullwidth @.
        ("ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "Enter a valid email address"),
        ("ann@ｅｘａｍｐｌｅ.com", "already exists"),  # folds to ann@example.com
        ("ann@exаmple.com", "mixes letters of different scripts"),  # Cyrillic а
    ],
)
async def test_admin_add_with_a_lookalike_email_is_a_form_error(
    api: httpx.AsyncClient, staff: User, ann: User, email: str, error: str
) -> None:
    """The admin applies the API's lookalike rules (users/emails.py)."""
    await sync_to_async(log_in)(api, staff)

    response = await _submit_add_form(
        api, {"email": email, "name": "Imposter", "usable_password": "false"}
    )

    assert response.status_code == 200
    assert error in response.text
    assert await User.objects.filter(is_staff=False).acount() == 1


async def test_token_made_in_admin_is_shown_once_and_works(
    api: httpx.AsyncClient, staff: User, ann: User
) -> None:
    """Adding a token in the admin shows it once; only its digest is stored."""
    await sync_to_async(log_in)(api, staff)

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


async def _post_change_form(
    api: httpx.AsyncClient, user: User, fields: dict[str, str]
) -> httpx.Response:
    """Post the admin change form of `user` with `fields` over its current values."""
    url = f"/admin/users/user/{user.pk}/change/"
    form = await api.get(url)
    token = csrf_token(form)
    data = {
        "csrfmiddlewaretoken": token,
        "email": user.email,
        "name": user.name,
        "age": "" if user.age is None else str(user.age),
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        **fields,
    }
    return await api.post(url, data=data, headers={"Referer": str(form.url)})


async def test_change_to_taken_email_is_an_error_on_the_email_field(
    api: httpx.AsyncClient, staff: User, ann: User, bob: User
) -> None:
    """Changing bob's email to ANN@example.com is refused on the email field."""
    await sync_to_async(log_in)(api, staff)

    response = await _post_change_form(api, bob, {"email": "ANN@example.com"})

    assert response.status_code == 200
    email_row = re.search(
        r'<div class="form-row[^"]*field-email.*?</div>\s*</div>', response.text, re.S
    )
    assert email_row is not None
    assert "already exists" in email_row.group(0)
    await bob.arefresh_from_db()
    assert bob.email == "bob@example.com"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "A\x00B"}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"age": "151"}, "age"),
    ],
)
async def test_change_form_applies_the_api_rules(
    api: httpx.AsyncClient, staff: User, ann: User, fields: dict[str, str], field: str
) -> None:
    """NUL characters, over-long names and ages past 150 are form errors, not 500s."""
    await sync_to_async(log_in)(api, staff)

    response = await _post_change_form(api, ann, fields)

    assert response.status_code == 200
    assert re.search(rf"field-{field}.*?errorlist", response.text, re.S)
    await ann.arefresh_from_db()
    assert (ann.name, ann.age) == ("Ann", 30)


async def test_change_form_saves_the_age(
    api: httpx.AsyncClient, staff: User, ann: User
) -> None:
    """A valid change is saved and the API shows it."""
    await sync_to_async(log_in)(api, staff)

    response = await _post_change_form(api, ann, {"age": "31"})

    assert response.status_code == 302
    assert (await api.get(f"/api/users/{ann.pk}")).json()["age"] == 31


async def test_bulk_deactivate(
    api: httpx.AsyncClient,
    staff: User,
    ann: User,
    bob: User,
    cached_tokens: list[float],
) -> None:
    """The deactivate action switches the selected users off, and their
    tokens stop at once, even one this process verified moments ago."""
    anns = client(await sync_to_async(factories.token)(ann))
    assert (await anns.get("/api/users/me")).status_code == 200
    await sync_to_async(log_in)(api, staff)
    page = await api.get("/admin/users/user/")
    token = csrf_token(page)

    response = await api.post(
        "/admin/users/user/",
        data={
            "csrfmiddlewaretoken": token,
            "action": "deactivate",
            "_selected_action": [str(ann.pk), str(bob.pk)],
        },
        headers={"Referer": str(page.url)},
    )

    assert response.status_code == 302
    assert not await User.objects.filter(
        pk__in=[ann.pk, bob.pk], is_active=True
    ).aexists()
    assert (await anns.get("/api/users/me")).status_code == 401


async def test_non_staff_cannot_log_in(anon: httpx.AsyncClient, db: None) -> None:
    """The admin's login refuses a user who is not staff."""
    await sync_to_async(factories.user)(email="plain@example.com", password=PASSWORD)
    page = await anon.get("/admin/login/")
    token = csrf_token(page)

    response = await anon.post(
        "/admin/login/",
        data={
            "csrfmiddlewaretoken": token,
            "username": "plain@example.com",
            "password": PASSWORD,
        },
        headers={"Referer": str(page.url)},
    )

    assert response.status_code == 200
    assert "errornote" in response.text


async def test_admin_login_is_rate_limited(
    anon: httpx.AsyncClient, db: None, one_window: None, settings: Settings
) -> None:
    """Log-in attempts past API_THROTTLE_LOGIN get 429 with Retry-After."""
    settings.API_THROTTLE_LOGIN = "2/m"
    page = await anon.get("/admin/login/")
    token = csrf_token(page)
    data = {
        "csrfmiddlewaretoken": token,
        "username": "x@example.com",
        "password": "y",
    }

    statuses = [
        (
            await anon.post(
                "/admin/login/", data=data, headers={"Referer": str(page.url)}
            )
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [200, 200, 429]


async def test_token_state_filter(
    api: httpx.AsyncClient, staff: User, ann: User
) -> None:
    """Tokens can be listed by state: active, expired, revoked."""
    await sync_to_async(log_in)(api, staff)
    active = await sync_to_async(tokens.token_issue)(user=ann, name="active-one")
    revoked = await sync_to_async(tokens.token_issue)(user=ann, name="revoked-one")
    await ApiToken.objects.filter(pk=revoked[0].pk).aupdate(revoked_at=timezone.now())

    listed = await api.get("/admin/users/apitoken/", params={"state": "revoked"})

    assert revoked[0].prefix in listed.text
    assert active[0].prefix not in listed.text
