"""Long-lived request threads with a real database (core/handlers/asgi.py).

Real commits (`tx_db`), one pooled connection per request, as in production.
"""

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from pytest_django import Settings

from core.handlers.asgi import LongLivedThreadsASGIHandler
from users.models import User

pytestmark = [
    pytest.mark.urls("tests.core.handler_urls"),
    pytest.mark.asyncio,
    pytest.mark.requires("postgresql"),  # the pool, pg_terminate_backend, kept sessions
    pytest.mark.usefixtures(
        "fast_path_middleware"
    ),  # the fast path, whatever the switch
]


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
    "url",
    [
        "/users",  # plain sync_to_async
        "/users-released",  # db_call
    ],
)
async def test_each_request_gives_its_connection_back(
    tx_db: None, settings: Settings, hops: list[str], url: str
) -> None:
    """Threads outnumber pool connections; every request still gets one.

    A call that kept its connection after it returned would leave the pool
    empty for the threads after it: they would fail after the pool's timeout.
    Each call gives it back as it returns, so the response is closed on the
    loop: one trip to a thread per request, for its query.
    """
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {})
    threads = pool.get("max_size", 2) + 2
    api = _client(LongLivedThreadsASGIHandler(threads=threads))

    responses = [await api.get(url) for _ in range(threads * 2)]

    assert [r.status_code for r in responses] == [200] * (threads * 2)
    assert len({r.json()["thread"] for r in responses}) == threads
    assert hops == ["_count_users"] * (threads * 2)


@pytest.fixture
def keeping(tx_db: None) -> Iterator[LongLivedThreadsASGIHandler]:
    """A handler whose two threads keep their connections, closed afterwards."""
    handler = LongLivedThreadsASGIHandler(threads=2, keep_connections=True, wait_s=1)
    yield handler
    handler.close_connections()


async def test_a_thread_keeps_its_connection_across_requests(
    keeping: LongLivedThreadsASGIHandler, hops: list[str]
) -> None:
    """The same server session serves each thread's requests, and no request
    makes a trip to its thread to give the connection back."""
    api = _client(keeping)

    answers = [(await api.get("/backend")).json() for _ in range(6)]

    by_thread: dict[int, set[int]] = {}
    for answer in answers:
        by_thread.setdefault(answer["thread"], set()).add(answer["pid"])
    assert all(len(pids) == 1 for pids in by_thread.values()), by_thread
    assert hops == ["_backend"] * 6


async def test_requests_beyond_the_threads_wait_for_one(
    keeping: LongLivedThreadsASGIHandler,
) -> None:
    """Three times as many requests as threads at once: all are served."""
    api = _client(keeping)

    responses = await asyncio.gather(
        *(api.get("/slow-query", params={"seconds": 0.2}) for _ in range(6))
    )

    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.json()["thread"] for r in responses}) == 2


async def test_a_request_waits_for_a_thread_no_longer_than_wait_s(tx_db: None) -> None:
    """With the only thread busy past `wait_s`, the next request fails (503 in
    the API, as a pool timeout) instead of queueing without end."""
    handler = LongLivedThreadsASGIHandler(threads=1, keep_connections=True, wait_s=0.3)
    api = _client(handler)
    try:
        slow = asyncio.create_task(api.get("/slow-query", params={"seconds": 1.5}))
        await asyncio.sleep(0.2)
        started = asyncio.get_running_loop().time()
        waited = await api.get("/users")
        elapsed = asyncio.get_running_loop().time() - started

        assert waited.status_code == 500  # a plain Django view; the API answers 503
        assert 0.25 < elapsed < 1.2
        assert (await slow).status_code == 200
        assert (await api.get("/users")).status_code == 200  # the thread serves on
    finally:
        await sync_to_async(handler.close_connections)()


def _pool_checkouts() -> int:
    """How many connections the pool has handed out so far."""
    pool = connections["default"].pool  # type: ignore[attr-defined]  # PostgreSQL's
    return int(pool.get_stats().get("requests_num", 0))


@pytest.mark.parametrize(("fail", "kept"), [("data", True), ("programming", False)])
async def test_a_kept_connection_is_replaced_after_an_error_django_doubts(
    tx_db: None, fail: str, kept: bool
) -> None:
    """After an error that may have left the session unusable (Django marks
    all but data and integrity errors), the thread gives its connection back
    and takes one from the pool, which checks it before handing it out (it
    may be the same session, checked); after a data error (a division by
    zero, a duplicate) it serves on with the one it kept."""
    handler = LongLivedThreadsASGIHandler(threads=1, keep_connections=True)
    api = _client(handler)
    try:
        first = (await api.get("/backend")).json()
        checkouts = await sync_to_async(_pool_checkouts)()
        failed = await api.get("/backend", params={"fail": fail})
        after = (await api.get("/backend")).json()
        taken = await sync_to_async(_pool_checkouts)() - checkouts
    finally:
        await sync_to_async(handler.close_connections)()

    assert failed.status_code == 503
    assert after["thread"] == first["thread"]
    if kept:
        assert (after["pid"], taken) == (first["pid"], 0)
    else:
        assert taken == 1


async def test_a_kept_connection_killed_by_the_server_is_replaced_before_use(
    tx_db: None,
) -> None:
    """A session ended on the server side (a restart, an admin's kill) is
    found dead before the next call sends anything: that call runs on a
    fresh connection, and no request fails (#16)."""
    handler = LongLivedThreadsASGIHandler(threads=1, keep_connections=True)
    api = _client(handler)
    try:
        first = (await api.get("/backend")).json()
        await sync_to_async(_terminate)(first["pid"])
        await asyncio.sleep(0.2)  # the server's goodbye reaches the socket
        after = await api.get("/backend")
    finally:
        await sync_to_async(handler.close_connections)()

    assert after.status_code == 200
    assert after.json()["pid"] != first["pid"]


def _terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


async def test_db_call_runs_on_a_request_thread_in_its_context(tx_db: None) -> None:
    """db_call goes straight to the request threads, where sync_to_async
    sends the request's other sync work, and the code there sees the
    request's context (its request id, on every log line)."""
    api = _client(LongLivedThreadsASGIHandler(threads=2))

    answer = (await api.get("/where", headers={"X-Request-ID": "trace-42"})).json()

    assert answer["db_call"]["thread"].startswith("request-")
    assert answer["sync_to_async"]["thread"].startswith("request-")
    assert answer["db_call"]["request_id"] == "trace-42"
    assert answer["sync_to_async"]["request_id"] == "trace-42"


async def test_a_task_left_behind_cannot_take_a_thread_after_the_request(
    tx_db: None,
) -> None:
    """The thread goes back when the request ends; a task the request left
    running is refused it (as asgiref refuses it after the context's exit),
    rather than borrowing a thread that no one would give back."""
    from tests.core.handler_urls import LEFT_BEHIND

    handler = LongLivedThreadsASGIHandler(threads=1)
    api = _client(handler)

    assert (await api.get("/leave-a-task")).status_code == 200
    task = LEFT_BEHIND.pop()
    with pytest.raises(RuntimeError, match="has ended"):
        await task
    assert (await api.get("/users")).status_code == 200  # the one thread serves on
