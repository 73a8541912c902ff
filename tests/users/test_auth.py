"""Authentication: bearer tokens, obtaining and revoking them, sessions with CSRF.

(Over 300 lines: the three ways in, bearer tokens, their issue and
revocation, and sessions with CSRF, one subject.)
"""

import re
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.utils import timezone
from pytest_django import Settings

from tests import factories
from tests.helpers import client
from users import tokens
from users.models import ApiToken, User

pytestmark = pytest.mark.django_db

PASSWORD = "a long unusual passphrase"


@pytest.fixture
def carol(db: None) -> User:
    """A user who can log in with PASSWORD."""
    return factories.user(email="carol@example.com", name="Carol", password=PASSWORD)


async def test_valid_token_authenticates(carol: User) -> None:
    """A bearer token stands for its user."""
    raw = await sync_to_async(factories.token)(carol)

    response = await client(raw).get("/api/users/me")

    assert response.status_code == 200
    assert response.json()["email"] == "carol@example.com"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nonsense",
        "Bearer abc.def",
        "Bearer " + "x" * 500,
        "Bearer ",
        "Basic Y2Fyb2w6cGFzcw==",
        "Bearer a.b\x7f",
    ],
)
async def test_garbage_credentials_are_401(
    anon: httpx.AsyncClient, header: str
) -> None:
    """Anything but a valid token is a 401 in the API's error shape."""
    response = await anon.get("/api/users/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_with_wrong_secret_is_401(carol: User) -> None:
    """The prefix alone does not authenticate: the whole token must match."""
    raw = await sync_to_async(factories.token)(carol)
    prefix = raw.split(".")[0]

    response = await client(f"{prefix}.{'A' * 43}").get("/api/users/me")

    assert response.status_code == 401


async def test_expired_token_is_401(carol: User) -> None:
    """A token past its expiry no longer authenticates."""
    raw = await sync_to_async(factories.token)(carol)
    await ApiToken.objects.filter(user=carol).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = await client(raw).get("/api/users/me")

    assert response.status_code == 401


async def test_token_of_inactive_user_is_401(carol: User) -> None:
    """Deactivating a user stops their tokens."""
    raw = await sync_to_async(factories.token)(carol)
    await User.objects.filter(pk=carol.pk).aupdate(is_active=False)

    response = await client(raw).get("/api/users/me")

    assert response.status_code == 401


async def test_token_is_stored_only_as_a_digest(carol: User) -> None:
    """The table holds a prefix and a SHA-256 digest, never the token."""
    raw = await sync_to_async(factories.token)(carol)

    row = await ApiToken.objects.aget(user=carol)

    assert raw.startswith(row.prefix + ".")
    assert raw not in (row.digest, row.prefix, row.name)
    assert re.fullmatch(r"[0-9a-f]{64}", row.digest)
    assert len(raw.split(".")[1]) >= 43  # 32 random bytes, base64


async def test_login_issues_a_working_token(
    anon: httpx.AsyncClient, carol: User
) -> None:
    """Email and password buy a token, shown once, that authenticates."""
    response = await anon.post(
        "/api/auth/tokens",
        json={
            "email": "CAROL@example.com",
            "password": PASSWORD,
            "expires_in_days": 30,
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith(body["prefix"] + ".")
    assert body["expires_at"] is not None
    me = await client(body["token"]).get("/api/users/me")
    assert me.json()["email"] == "carol@example.com"


@pytest.mark.parametrize(
    ("email", "password"),
    [("carol@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
)
async def test_wrong_email_and_wrong_password_get_the_same_401(
    anon: httpx.AsyncClient, carol: User, email: str, password: str
) -> None:
    """The answer does not tell whether the email exists."""
    response = await anon.post(
        "/api/auth/tokens", json={"email": email, "password": password}
    )

    assert response.status_code == 401
    assert response.json() == {
        "type": "tag:ninja-service,2026:problem:unauthenticated",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Authentication required: send a valid bearer token or log in.",
        "code": "unauthenticated",
        "errors": None,
    }
    assert not await ApiToken.objects.aexists()


async def test_inactive_user_cannot_log_in(
    anon: httpx.AsyncClient, carol: User
) -> None:
    """A deactivated user gets no token."""
    await User.objects.filter(pk=carol.pk).aupdate(is_active=False)

    response = await anon.post(
        "/api/auth/tokens", json={"email": carol.email, "password": PASSWORD}
    )

    assert response.status_code == 401


@pytest.mark.parametrize("cache_seconds", [0, 2])
async def test_revoking_the_current_token(
    carol: User,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    cache_seconds: float,
) -> None:
    """DELETE /api/auth/tokens/current ends that token, and only that one,
    also where the process would trust a token it verified moments ago."""
    settings.API_TOKEN_CACHE_SECONDS = cache_seconds
    monkeypatch.setattr("users.token_cache.monotonic", lambda: 1000.0)  # no ageing
    kept = await sync_to_async(factories.token)(carol)
    revoked = await sync_to_async(factories.token)(carol)

    response = await client(revoked).delete("/api/auth/tokens/current")

    assert response.status_code == 204
    assert (await client(revoked).get("/api/users/me")).status_code == 401
    assert (await client(kept).get("/api/users/me")).status_code == 200


def test_issue_token_prints_a_working_token(carol: User) -> None:
    """`manage.py issue_token EMAIL --expires-in DAYS` prints a token for that user."""
    out, err = StringIO(), StringIO()

    call_command(
        "issue_token", "CAROL@example.com", "--expires-in", "7", stdout=out, stderr=err
    )

    raw = out.getvalue().strip()
    token = ApiToken.objects.get(prefix=raw.split(".")[0])
    assert token.user == carol
    assert token.expires_at is not None
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert raw not in err.getvalue()


def test_issue_token_for_unknown_email_fails() -> None:
    """The command says so when the user does not exist."""
    with pytest.raises(CommandError, match="No user"):
        call_command("issue_token", "ghost@example.com")


# Sessions: the admin's login, for /api/docs in the browser.


def _session_client(user: User) -> httpx.AsyncClient:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    api = client()
    api.cookies.set("sessionid", session.session_key or "")
    return api


async def test_session_reads_without_csrf(carol: User) -> None:
    """A logged-in browser may read with its session alone."""
    api = await sync_to_async(_session_client)(carol)

    response = await api.get("/api/users/me")

    assert response.status_code == 200


async def test_session_write_without_csrf_token_is_403(carol: User) -> None:
    """An unsafe method under session auth needs the CSRF token."""
    api = await sync_to_async(_session_client)(carol)

    response = await api.patch("/api/users/me", json={"age": 40})

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    await carol.arefresh_from_db()
    assert carol.age is None


async def test_session_write_with_csrf_token_succeeds(carol: User) -> None:
    """With the CSRF cookie and header, a session may write."""
    api = await sync_to_async(_session_client)(carol)
    api.cookies.set("csrftoken", "a" * 32)

    response = await api.patch(
        "/api/users/me",
        json={"age": 40},
        headers={"X-CSRFToken": "a" * 32, "Referer": "https://testserver/api/docs"},
    )

    assert response.status_code == 200
    await carol.arefresh_from_db()
    assert carol.age == 40


async def test_bearer_write_needs_no_csrf_token(carol: User) -> None:
    """Token clients are not browsers: no CSRF token is asked of them."""
    raw = await sync_to_async(factories.token)(carol)

    response = await client(raw).patch("/api/users/me", json={"age": 41})

    assert response.status_code == 200


async def test_anonymous_write_is_401_not_403(anon: httpx.AsyncClient) -> None:
    """Without credentials, even an unsafe method is a 401 (never a CSRF 403)."""
    response = await anon.post(
        "/api/users", json={"email": "x@example.com", "name": "X"}
    )

    assert response.status_code == 401


async def test_security_events_are_logged_without_secrets(
    anon: httpx.AsyncClient, carol: User, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed logins and bad tokens are logged with the address, never the secret."""
    with caplog.at_level("INFO", logger="security"):
        await anon.post(
            "/api/auth/tokens", json={"email": carol.email, "password": "hunter22"}
        )
        await anon.get(
            "/api/users/me", headers={"Authorization": "Bearer abc.secret-guess"}
        )

    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "security")
    assert "login failed ip=127.0.0.1" in logged
    assert "auth failed kind=token ip=127.0.0.1" in logged
    assert "hunter22" not in logged
    assert "secret-guess" not in logged


async def test_permission_denials_are_logged(
    ann: User, caplog: pytest.LogCaptureFixture
) -> None:
    """A 403 leaves a security event naming the user and address."""
    api = client(await sync_to_async(factories.token)(ann))

    with caplog.at_level("WARNING", logger="security"):
        response = await api.get("/api/users")

    assert response.status_code == 403
    assert f"permission denied user={ann.pk} ip=127.0.0.1 GET /api/users" in caplog.text


def test_token_lookup_loads_token_and_user_as_the_orm_does(carol: User) -> None:
    """The hand-written lookup (users/tokens.py) yields the ORM's values, field for field."""
    issued, raw = tokens.token_issue(
        user=carol, name="ci", expires_in=timedelta(days=1)
    )

    found = tokens.token_authenticate(raw)

    assert found is not None
    token = ApiToken.objects.get(pk=issued.pk)
    for field in ApiToken._meta.concrete_fields:
        if field.name != "last_used_at":  # this very call has just set it
            assert getattr(found, field.attname) == getattr(token, field.attname)
    user = User.objects.get(pk=carol.pk)
    for field in User._meta.concrete_fields:
        assert getattr(found.user, field.attname) == getattr(user, field.attname)
    assert found.expires_at is not None
    assert found.expires_at.tzinfo is not None
