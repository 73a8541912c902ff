"""Helpers shared by test modules (fixtures live in conftest.py)."""

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from users.models import User


@contextlib.contextmanager
def requests_keep_the_test_connection() -> Iterator[None]:
    """Let requests run in the test's thread and transaction.

    Django's close_old_connections would otherwise close the connection
    holding the test's transaction at the start and end of every request.
    (core/apps.py may have taken it off request_started already.)
    """
    started = request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        if started:
            request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def client(token: str | None = None, app: Any = None) -> httpx.AsyncClient:
    """Return a client of the real ASGI application (or `app`), without a socket."""
    from config.asgi import application

    transport = httpx.ASGITransport(app=app or application)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers=headers
    )


async def token_call(raw: str) -> int:
    """The status of a call with bearer token `raw` to an endpoint that makes
    no query of its own (slugify): what the token alone decides."""
    response = await client(raw).post("/api/utilities/slugify", json={"text": "a"})
    return response.status_code


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["X-Request-ID"]
    body = response.json()
    assert body["type"] == f"tag:ninja-service,2026:problem:{code}"
    assert body["title"]
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    assert "errors" in body


def csrf_token(page: httpx.Response) -> str:
    """Return the CSRF token of the form on an admin page."""
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def log_in(api: httpx.AsyncClient, user: User) -> None:
    """Give the client a session cookie for `user`, as logging in would."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    api.cookies.set("sessionid", session.session_key or "")
