"""A live server while its Redis goes away and comes back (#16).

The redis-server is private to the test (its own port, started and stopped
here); the shared one is never touched. The server is the production
configuration over a throwaway SQLite database: the database is not what
fails here.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live_server import Server, live_server
from tests.private_redis import PrivateRedis
from tests.requirements import require


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    require("redis-server")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(private_redis: PrivateRedis, tmp_path: Path) -> Iterator[Server]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": private_redis.url,
        "REDIS_RETRY_AFTER_S": "0.5",
        "API_THROTTLE_LOGIN": "3/m",
    }
    with live_server(env, tmp_path) as running:
        yield running


def _login(server: Server) -> int:
    body = {"email": "someone@example.com", "password": "a wrong guess"}
    return httpx.post(
        f"{server.url}/api/auth/tokens", json=body, timeout=20
    ).status_code


def test_redis_outage_degrades_the_limits_and_serves_on(
    private_redis: PrivateRedis, server: Server
) -> None:
    """Redis stopped: no 5xx, reads served, the login limit still refuses,
    ready stays 200 and says `degraded`. Started again: the counters are
    back in Redis within seconds."""
    assert server.get("/api/ready").json()["cache"] == "redis"

    private_redis.stop()
    reads = [
        server.get(path).status_code for path in ("/api/users/me", "/api/utilities")
    ]
    logins = [_login(server) for _ in range(4)]
    ready = server.get("/api/ready")

    private_redis.start()
    time.sleep(1)  # past REDIS_RETRY_AFTER_S
    back = server.get("/api/ready")
    counted = _login(server)

    assert reads == [200, 200]
    assert logins == [401, 401, 401, 429]
    assert (ready.status_code, ready.json()["cache"]) == (200, "degraded")
    assert back.json()["cache"] == "redis"
    assert counted == 401  # a fresh count, in Redis now
    assert private_redis.keys("*limit*")
    log = server.log.read_text()
    assert log.count("Redis is unreachable") == 1
    assert "Traceback" not in log
