"""A request holds a request thread only while its sync work runs (#16).

Real commits and the real project URLs, served by a handler with two
request threads that keep their connections on PostgreSQL, as in production.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connection
from pytest_django import Settings

from core.handlers.asgi import LongLivedThreadsASGIHandler
from tests import factories
from tests.core.request_threads_urls import held, let_go

pytestmark = [
    pytest.mark.urls("tests.core.request_threads_urls"),
    pytest.mark.asyncio,
    pytest.mark.usefixtures(
        "fast_path_middleware"
    ),  # the fast path, whatever the switch
]

THREADS = 2


@pytest_asyncio.fixture
async def api(tx_db: None) -> AsyncIterator[httpx.AsyncClient]:
    """A staff client of a two-thread handler; held calls let go afterwards."""
    staff = await factories.auser(email="staff@example.com", is_staff=True)
    raw = await sync_to_async(factories.token)(staff)
    # Keeping connections (PostgreSQL's pool), a call waits for a busy thread:
    # long enough here that, on a handler lending a thread per request, the
    # requests below would queue behind the held calls rather than fail fast.
    handler = LongLivedThreadsASGIHandler(
        threads=THREADS, keep_connections=connection.vendor == "postgresql", wait_s=30
    )
    let_go["event"] = asyncio.Event()
    let_go["arrived"] = asyncio.Event()
    transport = httpx.ASGITransport(app=handler)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="https://testserver",
        headers={"Authorization": f"Bearer {raw}"},
        timeout=60,
    ) as client:
        yield client
    let_go["event"].set()
    await sync_to_async(handler.close_connections)()


async def _until_held(calls: int) -> None:
    """Wait until `calls` calls are inside hold() (bounded: 5 s)."""
    async with asyncio.timeout(5):
        while len(held) < calls:
            let_go["arrived"].clear()
            await let_go["arrived"].wait()


def _hold(api: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    return asyncio.ensure_future(api.post("/held/utilities/hold", json={}))


async def test_calls_awaiting_a_utility_leave_the_threads_to_others(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """With more calls awaiting a utility than there are request threads,
    an unrelated read is answered while they all still wait."""
    settings.UTILITIES_OVERRIDES = {"hold": {"concurrency": THREADS * 2}}
    calls = [_hold(api) for _ in range(THREADS * 2)]
    await _until_held(THREADS * 2)

    me = await api.get("/api/users/me")
    still_held = len(held)
    let_go["event"].set()
    answers = await asyncio.gather(*calls)

    assert me.status_code == 200
    assert still_held == THREADS * 2  # answered before any held call ended
    assert [a.status_code for a in answers] == [200] * (THREADS * 2)


async def test_calls_beyond_slots_and_queue_are_refused_before_a_slot_frees(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """One slot, a queue of two: with three calls in, the fourth is refused
    at once as `utility_busy`, while the first still holds its slot."""
    settings.UTILITIES_OVERRIDES = {
        "hold": {"concurrency": 1, "queue_size": 2, "queue_wait_s": 30}
    }
    calls = [_hold(api) for _ in range(3)]
    await _until_held(1)
    await asyncio.sleep(0.2)  # the two queued calls reach the gate

    refused = await api.post("/held/utilities/hold", json={})
    still_held = len(held)
    let_go["event"].set()
    answers = await asyncio.gather(*calls)

    assert refused.status_code == 503
    assert refused.json()["code"] == "utility_busy"
    assert refused.headers["Retry-After"].isdigit()
    assert still_held == 1
    assert [a.status_code for a in answers] == [200] * 3
