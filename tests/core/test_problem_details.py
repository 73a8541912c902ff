"""Every error under /api/ is one shape: RFC 9457 problem details (#17).

Whatever the cause (ours, Ninja's, Django's, the ASGI handler's), the answer
is `application/problem+json` with `type`, `title`, `status`, `detail`, and
the earlier `code` and `errors` as extension members.
"""

from collections.abc import Awaitable, Callable

import httpx
import pytest
from pytest_django import Settings

from config.asgi import application
from tests.helpers import assert_problem
from users.models import User

pytestmark = pytest.mark.django_db

Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


CASES: dict[str, tuple[Call, int, str]] = {
    "malformed JSON": (
        lambda c: c.post(
            "/api/users", content=b"{", headers={"Content-Type": "application/json"}
        ),
        400,
        "malformed",
    ),
    "unknown path": (lambda c: c.get("/api/nothing/here"), 404, "not_found"),
    "unknown user": (lambda c: c.get("/api/users/999999"), 404, "user_not_found"),
    "body over the limit": (
        lambda c: c.post("/api/users", content=b"x" * 3_000_000),
        413,
        "too_large",
    ),
    "form body": (
        lambda c: c.post("/api/users", data={"email": "a@example.com"}),
        415,
        "unsupported_media_type",
    ),
    "invalid value": (
        lambda c: c.patch("/api/users/me", json={"age": -1}),
        422,
        "invalid",
    ),
    "no credentials": (
        lambda c: c.get("/api/users/me", headers={"Authorization": "Bearer x.y"}),
        401,
        "unauthenticated",
    ),
}


@pytest.mark.parametrize("case", CASES)
async def test_each_cause_answers_a_problem(
    api: httpx.AsyncClient, staff: User, case: str
) -> None:
    call, status, code = CASES[case]

    assert_problem(await call(api), status, code)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("PUT", "/api/health", "GET, HEAD"), ("DELETE", "/api/jobs/{id}", "GET")],
)
async def test_a_method_the_path_does_not_serve_is_405_with_allow(
    api: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    path = path.format(id="00000000-0000-0000-0000-000000000000")

    response = await api.request(method, path)

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow


async def test_a_host_outside_allowed_hosts_is_a_problem(
    settings: Settings,
) -> None:
    settings.ALLOWED_HOSTS = ["api.example.com"]
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://intruder.example"
    ) as client:
        response = await client.get("/api/users/me")

    assert_problem(response, 400, "disallowed_host")


async def test_an_unknown_path_in_debug_is_a_problem_not_the_debug_page(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    settings.DEBUG = True

    assert_problem(await api.get("/api/nothing/here"), 404, "not_found")


async def test_throttled_is_a_problem_with_retry_after(
    anon: httpx.AsyncClient, settings: Settings, one_window: None
) -> None:
    settings.API_THROTTLE_LOGIN = "1/m"
    body = {"email": "someone@example.com", "password": "a wrong guess"}
    await anon.post("/api/auth/tokens", json=body)

    response = await anon.post("/api/auth/tokens", json=body)

    assert_problem(response, 429, "throttled")
    assert response.headers["Retry-After"].isdigit()
