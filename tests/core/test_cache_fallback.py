"""Redis is an optimisation: while it is away, the limits count in each process (#16).

Each test starts a redis-server of its own, on its own port, and stops it
under the application; the shared Redis is never touched.
"""

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from django.core.cache import cache
from pytest_django import Settings

from core import metrics
from tests import factories
from tests.private_redis import PrivateRedis
from tests.requirements import require
from users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a long unusual passphrase"


@pytest.fixture
def private_redis(settings: Settings) -> Iterator[PrivateRedis]:
    """The counters in a private Redis, tried again every 0.2 s while away."""
    require("redis-server")
    server = PrivateRedis()
    server.start()
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "core.cache.FallbackRedisCache",
            "LOCATION": server.url,
            "OPTIONS": {
                "socket_connect_timeout": 0.25,
                "socket_timeout": 0.5,
                "RETRY_AFTER_S": 0.2,
            },
        }
    }
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def carol(db: None) -> User:
    return factories.user(email="carol@example.com", name="Carol", password=PASSWORD)


async def _login(anon: httpx.AsyncClient, email: str, password: str) -> int:
    body = {"email": email, "password": password}
    return (await anon.post("/api/auth/tokens", json=body)).status_code


async def test_limits_hold_in_each_process_while_redis_is_down(
    private_redis: PrivateRedis,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    api: httpx.AsyncClient,
    carol: User,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No 5xx: reads are served, the login limit still refuses, /api/ready
    says `degraded` and stays 200; the outage is logged and counted once."""
    settings.API_THROTTLE_LOGIN = "2/m"
    outages = metrics.cache_outages._value.get()
    assert (await anon.get("/api/ready")).json()["cache"] == "redis"

    private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        reads = [(await api.get("/api/users/me")).status_code for _ in range(3)]
        logins = [await _login(anon, carol.email, "guess") for _ in range(3)]
        ready = await anon.get("/api/ready")

    assert reads == [200, 200, 200]
    assert logins == [401, 401, 429]
    assert (ready.status_code, ready.json()["cache"]) == (200, "degraded")
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1
    assert metrics.cache_outages._value.get() == outages + 1


async def test_counters_return_to_redis_once_it_is_back(
    private_redis: PrivateRedis,
    one_window: None,
    settings: Settings,
    anon: httpx.AsyncClient,
    carol: User,
) -> None:
    """Started again, Redis is tried within RETRY_AFTER_S, and the next
    counts are kept there, shared by every process, again."""
    private_redis.stop()
    assert await _login(anon, carol.email, "guess") == 401
    assert (await anon.get("/api/ready")).json()["cache"] == "degraded"

    private_redis.start()
    await asyncio.sleep(0.3)  # past RETRY_AFTER_S: the next call tries Redis
    ready = await anon.get("/api/ready")
    assert await _login(anon, carol.email, "guess") == 401

    assert ready.json()["cache"] == "redis"
    assert any(":limit:login:" in key for key in private_redis.keys())


def test_while_redis_is_away_calls_do_not_try_it(
    private_redis: PrivateRedis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After one failed try, the breaker keeps calls off Redis until
    RETRY_AFTER_S has passed: no request waits on a dead Redis meanwhile."""
    settings.CACHES["default"]["OPTIONS"]["RETRY_AFTER_S"] = 60
    settings.CACHES = {**settings.CACHES}  # Django makes the cache anew
    tries: list[float] = []
    connect = redis.connection.AbstractConnection.connect

    def counted(self: Any) -> None:
        tries.append(time.monotonic())
        connect(self)  # type: ignore[no-untyped-call]  # redis-py's, untyped

    monkeypatch.setattr(redis.connection.AbstractConnection, "connect", counted)
    private_redis.stop()

    counts = [cache.incr("n") if i else cache.add("n", 1) for i in range(5)]

    assert counts == [True, 2, 3, 4, 5]
    assert len(tries) == 1
