"""Long-lived request threads with a real database (config/asgi_handler.py).

Real commits (`tx_db`), one pooled connection per request, as in production.
"""

import asyncio

import httpx
import pytest
from pytest_django import Settings

from config.asgi_handler import LongLivedThreadsASGIHandler
from users.models import User

pytestmark = [pytest.mark.urls("tests.handler_urls"), pytest.mark.asyncio]


def _client(handler: LongLivedThreadsASGIHandler) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=handler, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def test_slow_query_does_not_hold_up_a_fast_request(tx_db: None) -> None:
    """A request waiting on a slow query blocks no other request's queries."""
    api = _client(LongLivedThreadsASGIHandler(threads=2))
    finished: list[str] = []

    async def slow() -> int:
        response = await api.get("/slow-query", params={"seconds": 1.0})
        finished.append("slow")
        return int(response.json()["thread"])

    async def fast_after_slow_started() -> int:
        await asyncio.sleep(0.2)
        response = await api.get("/users")
        finished.append("fast")
        return int(response.json()["thread"])

    slow_thread, fast_thread = await asyncio.gather(slow(), fast_after_slow_started())

    assert finished == ["fast", "slow"]
    assert slow_thread != fast_thread


async def test_failed_transaction_is_rolled_back_and_the_thread_serves_on(
    tx_db: None,
) -> None:
    """An error inside a transaction leaves no row, and the next request works."""
    handler = LongLivedThreadsASGIHandler(threads=1)
    api = _client(handler)
    thread = (await api.get("/users")).json()["thread"]

    failed = await api.get("/create-then-fail", params={"email": "half@example.com"})
    after = await api.get("/users")

    assert failed.status_code == 500
    assert after.status_code == 200
    assert after.json() == {"users": 0, "thread": thread}
    assert not await User.objects.filter(email="half@example.com").aexists()


@pytest.mark.parametrize(
    ("url", "thread_calls"),
    [
        # Plain sync_to_async: the thread keeps the connection until the
        # response is closed there, which gives it back to the pool.
        ("/users", ["_count_users", "HttpResponseBase.close"]),
        # db_call gives it back as the call returns: the response is closed
        # on the loop, one trip to the thread fewer.
        ("/users-released", ["_count_users"]),
    ],
)
async def test_each_request_gives_its_connection_back(
    tx_db: None, settings: Settings, hops: list[str], url: str, thread_calls: list[str]
) -> None:
    """Threads outnumber pool connections; every request still gets one.

    A request that kept its connection after answering would leave the pool
    empty for the threads after it: they would fail after the pool's timeout.
    """
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {})
    threads = pool.get("max_size", 2) + 2
    api = _client(LongLivedThreadsASGIHandler(threads=threads))

    responses = [await api.get(url) for _ in range(threads * 2)]

    assert [r.status_code for r in responses] == [200] * (threads * 2)
    assert len({r.json()["thread"] for r in responses}) == threads
    assert hops == thread_calls * (threads * 2)
