"""The fast path's middleware runs on the event loop (core/middleware.py).

Every test here serves through the fast path (`fast_path_app`), whatever
DJANGO_FAST_PATH says: it is what they test.
"""

from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import override_settings
from pytest_django import Settings

from core.checks import check_middleware_security
from tests import factories
from tests.helpers import client
from users.models import User


@pytest.fixture
def anon(fast_path_app: Any) -> httpx.AsyncClient:
    return client(app=fast_path_app)


@pytest.fixture
def api(fast_path_app: Any, staff: User) -> httpx.AsyncClient:
    return client(factories.token(staff), app=fast_path_app)


async def test_health_in_rollback_mode_makes_one_thread_hop(
    anon: httpx.AsyncClient, hops: list[str]
) -> None:
    """Through every middleware, /api/health leaves the loop once: to close the response.

    A middleware with sync hooks would add two trips to a thread per request.
    """
    response = await anon.get("/api/health")

    assert response.status_code == 200
    assert hops == ["HttpResponseBase.close"]


@pytest.mark.asyncio
async def test_health_as_served_never_leaves_the_loop(
    anon: httpx.AsyncClient, hops: list[str]
) -> None:
    """As served by uvicorn (core/handlers/asgi.py): no thread hop at all.

    The response is closed on the loop, since the request used no thread.
    """
    response = await anon.get("/api/health")

    assert response.status_code == 200
    assert hops == []


def test_deploy_checks_see_the_subclasses_as_djangos_middleware() -> None:
    """With the security middleware removed, the rerun checks say so."""
    fast = settings.FAST_PATH_MIDDLEWARE
    without = [m for m in fast if not m.endswith("SecurityMiddleware")]

    with override_settings(MIDDLEWARE=without):
        ids = {m.id for m in check_middleware_security(None)}
    with override_settings(MIDDLEWARE=fast):
        complete = {m.id for m in check_middleware_security(None)}

    assert "config.W001" in ids
    assert complete <= {"security.W020"}


def test_off_the_fast_path_djangos_own_checks_are_left_alone() -> None:
    """Django's own middleware (DJANGO_FAST_PATH off): its checks see them, and
    the rerun adds nothing that would repeat their findings."""
    with override_settings(MIDDLEWARE=settings.STOCK_MIDDLEWARE, SECURE_HSTS_SECONDS=0):
        assert check_middleware_security(None) == []


@pytest.fixture
def cookie_hooks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cookie middleware's hooks that run, by class and hook name."""
    from core import middleware

    ran: list[str] = []
    for cls in (
        middleware.OnLoopSessionMiddleware,
        middleware.OnLoopCsrfViewMiddleware,
        middleware.OnLoopAuthenticationMiddleware,
        middleware.OnLoopMessageMiddleware,
    ):
        for hook in ("process_request", "process_response"):
            real = getattr(cls, hook, None)
            if real is None:
                continue

            def counting(
                self: object, *args: object, _real: Any = real, _name: str = hook
            ) -> Any:
                ran.append(f"{type(self).__name__.removeprefix('OnLoop')}.{_name}")
                return _real(self, *args)

            monkeypatch.setattr(cls, hook, counting)
    return ran


async def test_a_cookieless_api_call_skips_the_cookie_middleware(
    api: httpx.AsyncClient, ann: User, cookie_hooks: list[str]
) -> None:
    """Sessions, CSRF cookies, the session's user and cookie-stored messages have
    nothing to read or write without cookies: a bearer call runs none of them (#6)."""
    response = await api.get(f"/api/users/{ann.pk}")

    assert response.status_code == 200
    assert cookie_hooks == []


async def test_with_a_cookie_the_cookie_middleware_runs(
    api: httpx.AsyncClient, ann: User, cookie_hooks: list[str]
) -> None:
    """Any cookie, and the API call goes through the whole stack, as the admin's do."""
    response = await api.get(f"/api/users/{ann.pk}", headers={"Cookie": "theme=dark"})

    assert response.status_code == 200
    assert sorted(set(cookie_hooks)) == [
        "AuthenticationMiddleware.process_request",
        "CsrfViewMiddleware.process_request",
        "CsrfViewMiddleware.process_response",
        "MessageMiddleware.process_request",
        "MessageMiddleware.process_response",
        "SessionMiddleware.process_request",
        "SessionMiddleware.process_response",
    ]


async def test_the_docs_page_goes_through_the_whole_stack(
    anon: httpx.AsyncClient, cookie_hooks: list[str]
) -> None:
    """/api/docs is a browser page, not an API call: its middleware all runs."""
    await anon.get("/api/docs")

    assert "CsrfViewMiddleware.process_response" in cookie_hooks


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/health"),
        ("GET", "/api/users/me"),
        ("PATCH", "/api/users/me"),
        ("POST", "/api/users/me/password"),
        ("GET", "/api/no-such-route"),
        ("GET", "/api/openapi.json"),
    ],
)
async def test_a_cookieless_api_call_is_answered_as_with_an_unrelated_cookie(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    """Skipping the cookie middleware changes nothing a client sees: status,
    headers and body are those of the same call through the whole stack."""
    payload = {"age": 33} if method == "PATCH" else {} if method == "POST" else None

    plain = await api.request(method, path, json=payload)
    cookie = await api.request(
        method, path, json=payload, headers={"Cookie": "theme=dark"}
    )

    assert plain.status_code == cookie.status_code
    if plain.headers["content-type"] == "application/json":
        moving = {"updated_at"}  # each PATCH moves it
        assert {k: v for k, v in plain.json().items() if k not in moving} == {
            k: v for k, v in cookie.json().items() if k not in moving
        }
    varying = {"date", "x-request-id"}
    assert {k: v for k, v in plain.headers.items() if k not in varying} == {
        k: v for k, v in cookie.headers.items() if k not in varying
    }


async def test_a_cookieless_call_is_anonymous_where_the_user_is_read(
    anon: httpx.AsyncClient, settings: Settings
) -> None:
    """Code that reads request.user (staff-only docs) finds the anonymous user,
    as it would through the session middleware: sent to log in, not a 500."""
    settings.API_DOCS = "staff"

    response = await anon.get("/api/openapi.json")

    assert response.status_code == 302
    assert response.headers["location"].startswith("/admin/login/")
