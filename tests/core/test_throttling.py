"""Rate limits: 429 with Retry-After, per client, on the in-memory cache and on Redis.

(Over 300 lines: every limiter, each on the in-memory cache and on Redis.)
"""

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.cache.backends.redis import RedisCache
from pytest_django import Settings

from tests import factories
from tests.helpers import client
from tests.requirements import require
from users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a long unusual passphrase"


@pytest.fixture(params=["locmem", "redis"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Run the test on each cache a deployment may use for the counters."""
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "core.cache.FallbackRedisCache",
                "LOCATION": os.environ.get(
                    "TEST_REDIS_URL", "redis://127.0.0.1:6379/15"
                ),
                # Each test its own keys: parallel workers share the server.
                "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
            }
        }
        require("redis")
    return str(request.param)


@pytest.fixture
def loop_cache_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Redis cache calls made on a thread that runs an event loop."""
    calls: list[str] = []

    def spy(name: str) -> Callable[..., Any]:
        original = getattr(RedisCache, name)

        def call(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
            with contextlib.suppress(RuntimeError):  # RuntimeError: no loop here
                asyncio.get_running_loop()
                calls.append(name)
            return original(self, *args, **kwargs)

        return call

    for name in ("get", "add", "incr", "set"):
        monkeypatch.setattr(RedisCache, name, spy(name))
    return calls


@pytest.fixture
def carol(db: None) -> User:
    return factories.user(email="carol@example.com", name="Carol", password=PASSWORD)


async def test_user_rate_limit_is_429_with_retry_after(
    backend: str, one_window: None, settings: Settings, carol: User, ann: User
) -> None:
    """Past the per-user rate, requests get 429; another user is not affected."""
    settings.API_THROTTLE_USER = "3/m"
    mine = client(await sync_to_async(factories.token)(carol))
    theirs = client(await sync_to_async(factories.token)(ann))

    statuses = [(await mine.get("/api/users/me")).status_code for _ in range(4)]
    other = await theirs.get("/api/users/me")

    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200
    refused = await mine.get("/api/users/me")
    assert refused.json()["code"] == "throttled"
    assert int(refused.headers["Retry-After"]) >= 1


async def test_anonymous_rate_limit_is_429(
    backend: str,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
) -> None:
    """Past the anonymous rate, a client without credentials gets 429."""
    settings.API_THROTTLE_ANON = "2/m"
    body = {"email": carol.email, "password": "guess"}

    statuses = [
        (await anon.post("/api/auth/tokens", json=body)).status_code for _ in range(3)
    ]

    assert statuses == [401, 401, 429]


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_rate_limits_in_redis_are_counted_off_the_event_loop(
    backend: str,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
    loop_cache_calls: list[str],
) -> None:
    """A Redis round trip on the event loop would hold up every other request
    of the process: bearer, job and anonymous limits all count on a thread,
    and still refuse past their rate."""
    settings.API_THROTTLE_USER = settings.API_THROTTLE_ANON = "2/m"
    settings.API_THROTTLE_JOBS = "1/m"
    mine = client(await sync_to_async(factories.token)(carol))
    guess = {"email": carol.email, "password": "guess"}

    reads = [(await mine.get("/api/users/me")).status_code for _ in range(3)]
    jobs = [
        (
            await mine.post("/api/utilities/count_primes/jobs", json={"limit": 10})
        ).status_code
        for _ in range(2)
    ]
    logins = [
        (await anon.post("/api/auth/tokens", json=guess)).status_code for _ in range(3)
    ]

    assert (reads, jobs, logins) == ([200, 200, 429], [202, 429], [401, 401, 429])
    assert loop_cache_calls == []


async def test_failed_token_guesses_are_limited(
    backend: str,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
) -> None:
    """After too many bad tokens from one address, even a good token waits."""
    settings.API_THROTTLE_FAILED_AUTH = "3/h"
    good = await sync_to_async(factories.token)(carol)

    guesses = [
        (
            await anon.get("/api/users/me", headers={"Authorization": f"Bearer x.{i}"})
        ).status_code
        for i in range(4)
    ]
    blocked = await client(good).get("/api/users/me")

    assert guesses == [401, 401, 401, 429]
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers


async def test_failed_guesses_stop_a_token_verified_moments_ago(
    backend: str,
    cached_tokens: list[float],
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
) -> None:
    """The guessing limit holds for a token this process trusts without a
    lookup (users/token_cache.py), and its calls still count toward its rate."""
    settings.API_THROTTLE_FAILED_AUTH = "2/h"
    settings.API_THROTTLE_USER = "3/m"
    good = client(await sync_to_async(factories.token)(carol))

    before = [(await good.get("/api/users/me")).status_code for _ in range(2)]
    for i in range(2):
        await anon.get("/api/users/me", headers={"Authorization": f"Bearer x.{i}"})
    blocked = await good.get("/api/users/me")
    settings.API_THROTTLE_FAILED_AUTH = "100/h"
    third, fourth = [(await good.get("/api/users/me")).status_code for _ in range(2)]

    assert before == [200, 200]
    assert blocked.status_code == 429
    assert (third, fourth) == (200, 429)


async def test_login_is_limited_per_address(
    backend: str,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
) -> None:
    """Login attempts past the limit get 429, even with the right password."""
    settings.API_THROTTLE_LOGIN = "2/m"
    wrong = {"email": carol.email, "password": "guess"}
    right = {"email": carol.email, "password": PASSWORD}

    first = await anon.post("/api/auth/tokens", json=wrong)
    second = await anon.post("/api/auth/tokens", json=wrong)
    third = await anon.post("/api/auth/tokens", json=right)

    assert (first.status_code, second.status_code, third.status_code) == (401, 401, 429)


async def test_rotating_forwarded_for_does_not_escape_the_limit(
    backend: str,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
) -> None:
    """With no trusted proxy, X-Forwarded-For is ignored for the client address."""
    settings.API_THROTTLE_LOGIN = "2/m"
    body = {"email": carol.email, "password": "guess"}

    statuses = [
        (
            await anon.post(
                "/api/auth/tokens",
                json=body,
                headers={"X-Forwarded-For": f"10.0.0.{i}"},
            )
        ).status_code
        for i in range(3)
    ]

    assert statuses == [401, 401, 429]


async def test_login_is_limited_per_account_across_addresses(
    backend: str, one_window: None, settings: Settings, carol: User
) -> None:
    """Failed log-ins from ever new addresses still stop at the account's
    limit, even the right password; an unknown email is limited alike, and
    another account is not affected (#16)."""
    settings.NUM_PROXIES = 1
    settings.API_THROTTLE_LOGIN = "100/m"
    settings.API_THROTTLE_LOGIN_ACCOUNT = "3/h"
    anon = client()

    async def attempt(email: str, password: str, n: int) -> int:
        headers = {"X-Forwarded-For": f"198.51.100.{n}"}
        body = {"email": email, "password": password}
        return (
            await anon.post("/api/auth/tokens", json=body, headers=headers)
        ).status_code

    known = [await attempt(carol.email, "guess", n) for n in range(4)]
    right = await attempt(carol.email.upper(), PASSWORD, 10)
    unknown = [await attempt("nobody@example.com", "guess", 20 + n) for n in range(4)]
    other = await attempt("someone@example.com", "guess", 30)

    assert known == [401, 401, 401, 429]
    assert right == 429
    assert unknown == [401, 401, 401, 429]
    assert other == 401


async def test_trusted_proxy_separates_clients(
    backend: str,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
) -> None:
    """Behind one trusted proxy, the address it forwards is the client."""
    settings.NUM_PROXIES = 1
    settings.API_THROTTLE_LOGIN = "1/m"
    body = {"email": carol.email, "password": "guess"}

    async def attempt(ip: str) -> int:
        headers = {"X-Forwarded-For": ip}
        return (
            await anon.post("/api/auth/tokens", json=body, headers=headers)
        ).status_code

    assert [await attempt("192.0.2.1"), await attempt("192.0.2.1")] == [401, 429]
    assert await attempt("192.0.2.2") == 401


async def test_job_submission_has_its_own_stricter_limit(
    backend: str, one_window: None, settings: Settings, carol: User
) -> None:
    """Jobs are limited per user separately from other requests."""
    settings.API_THROTTLE_JOBS = "2/m"
    api = client(await sync_to_async(factories.token)(carol))

    statuses = [
        (
            await api.post("/api/utilities/count_primes/jobs", json={"limit": 10})
        ).status_code
        for _ in range(3)
    ]
    other = await api.get("/api/jobs")

    assert statuses == [202, 202, 429]
    assert other.status_code == 200


async def test_limit_resets_after_its_window(
    backend: str, settings: Settings, anon: httpx.AsyncClient, carol: User
) -> None:
    """Once Retry-After has passed, the client may try again."""
    settings.API_THROTTLE_LOGIN = "1/s"
    body = {"email": carol.email, "password": "guess"}
    for _ in range(
        5
    ):  # two attempts may straddle a window boundary: go on until refused
        refused = await anon.post("/api/auth/tokens", json=body)
        if refused.status_code == 429:
            break
    assert refused.status_code == 429

    await asyncio.sleep(int(refused.headers["Retry-After"]))
    again = await anon.post("/api/auth/tokens", json=body)

    assert again.status_code == 401


def test_every_async_operation_counts_its_limits_off_the_loop() -> None:
    """The API swaps Ninja's AsyncOperation for ChecksOffTheLoop while it
    builds its URLs; a Ninja upgrade that bypasses the swap fails here."""
    from django.urls import resolve
    from ninja.operation import AsyncOperation

    from config.api import api
    from core.throttling import ChecksOffTheLoop

    resolve("/api/health")  # the URLs, and so the swap, are built
    operations = [
        operation
        for router in api._get_bound_routers()
        for path_view in router.path_operations.values()
        for operation in path_view.operations
        if isinstance(operation, AsyncOperation)
    ]

    assert len(operations) > 10
    assert {type(operation) for operation in operations} == {ChecksOffTheLoop}
