"""The ASGI handler's long-lived request threads (core/handlers/asgi.py)."""

import asyncio
import functools

import httpx
import pytest

from core.handlers.asgi import LongLivedThreadsASGIHandler

pytestmark = [
    pytest.mark.urls("tests.core.handler_urls"),
    pytest.mark.usefixtures(
        "fast_path_middleware"
    ),  # the fast path, whatever the switch
]


def _client(handler: LongLivedThreadsASGIHandler) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=handler)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


@pytest.mark.asyncio
async def test_requests_reuse_long_lived_threads() -> None:
    """Sequential requests run their sync work on the same few threads, not new ones."""
    api = _client(LongLivedThreadsASGIHandler(threads=2))

    threads = {(await api.get("/work")).json()["thread"] for _ in range(10)}

    assert len(threads) <= 2


@pytest.mark.asyncio
async def test_slow_request_does_not_hold_up_a_fast_one() -> None:
    """A request never waits for another's thread: the fast one finishes first."""
    api = _client(LongLivedThreadsASGIHandler(threads=2))
    finished: list[str] = []

    async def call(name: str, seconds: float) -> None:
        response = await api.get("/work", params={"seconds": seconds})
        assert response.status_code == 200
        finished.append(name)

    async def fast_after_slow_started() -> None:
        await asyncio.sleep(0.1)
        await call("fast", 0)

    await asyncio.gather(call("slow", 0.6), fast_after_slow_started())

    assert finished == ["fast", "slow"]


@pytest.mark.asyncio
async def test_all_threads_busy_falls_back_to_a_fresh_thread() -> None:
    """With every long-lived thread taken, a request still runs, on its own thread."""
    api = _client(LongLivedThreadsASGIHandler(threads=1))

    responses = await asyncio.gather(
        api.get("/work", params={"seconds": 0.4}),
        api.get("/work", params={"seconds": 0.4}),
    )

    assert [r.status_code for r in responses] == [200, 200]
    assert len({r.json()["thread"] for r in responses}) == 2


async def test_under_async_to_sync_the_callers_thread_is_kept() -> None:
    """In the test suite's rollback mode, sync work stays on the test's thread."""
    import threading

    api = _client(LongLivedThreadsASGIHandler(threads=2))

    response = await api.get("/work")

    assert response.json()["thread"] == threading.main_thread().ident


async def _disconnecting_call(
    handler: LongLivedThreadsASGIHandler, seconds: float, path: str = "/work"
) -> list[dict[str, object]]:
    """Send GET <path>?seconds=..., then disconnect before the answer; the
    messages the handler sent."""
    gone = asyncio.Event()

    async def receive() -> dict[str, object]:
        if not gone.is_set():
            gone.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(0.1)  # the client gives up while the view works
        return {"type": "http.disconnect"}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "GET", "scheme": "https", "path": path, "raw_path": path.encode(),
        "query_string": f"seconds={seconds}".encode(), "root_path": "",
        "headers": [(b"host", b"testserver")], "server": ("testserver", 443),
        "client": ("127.0.0.1", 1234),
    }  # fmt: skip
    await handler(scope, receive, send)
    return sent


@pytest.mark.asyncio
async def test_a_client_that_goes_away_cancels_the_view() -> None:
    """The view stops when its client disconnects (0.1 s in), nothing is sent,
    and the request still ends with request_finished."""
    from django.core.signals import request_finished

    from tests.core.handler_urls import CANCELLED

    finished: list[object] = []

    def note(sender: object, **kwargs: object) -> None:
        finished.append(sender)

    request_finished.connect(note)
    CANCELLED.clear()
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        sent = await _disconnecting_call(
            LongLivedThreadsASGIHandler(threads=1), seconds=5, path="/wait"
        )
        took = loop.time() - started
    finally:
        request_finished.disconnect(note)

    assert CANCELLED == ["/wait"]
    assert took < 2  # not the view's 5 s
    assert sent == []
    assert finished == [LongLivedThreadsASGIHandler]


@pytest.mark.asyncio
async def test_a_request_task_cancelled_from_outside_stays_cancelled() -> None:
    """Server shutdown cancels a request's task: the cancellation propagates
    (it is not taken for a client that went away)."""
    from tests.core.handler_urls import CANCELLED

    CANCELLED.clear()
    api = _client(LongLivedThreadsASGIHandler(threads=1))
    call = asyncio.create_task(api.get("/wait", params={"seconds": 5}))
    await asyncio.sleep(0.1)

    call.cancel()

    with pytest.raises(asyncio.CancelledError):
        await call
    assert CANCELLED == ["/wait"]


@pytest.mark.asyncio
async def test_disconnected_request_gives_its_thread_back() -> None:
    """After a client gives up mid-request, its thread serves the next request."""
    handler = LongLivedThreadsASGIHandler(threads=1)
    api = _client(handler)
    long_lived = (await api.get("/work")).json()["thread"]

    await _disconnecting_call(handler, seconds=0.3)
    after = (await api.get("/work")).json()["thread"]

    assert after == long_lived


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/work", "/work-db-call"])  # submit(), call()
async def test_a_request_that_disconnects_while_waiting_for_a_thread_leaves_the_line(
    path: str,
) -> None:
    """With kept connections, a request waits for a busy thread; if its client
    goes away meanwhile, the thread goes to the next request, not to it."""
    handler = LongLivedThreadsASGIHandler(threads=1, keep_connections=True, wait_s=5)
    api = _client(handler)
    busy = asyncio.create_task(api.get(path, params={"seconds": 0.5}))
    await asyncio.sleep(0.1)

    # It would hold the thread 2 s if its queued call still ran.
    await _disconnecting_call(handler, seconds=2, path=path)  # waits, gives up
    started = asyncio.get_running_loop().time()
    after = await api.get(path)
    waited = asyncio.get_running_loop().time() - started

    assert (await busy).status_code == 200
    assert after.status_code == 200
    assert after.json()["thread"] == (await busy).json()["thread"]
    assert waited < 1  # served once the busy request ended, not after wait_s


@pytest.mark.asyncio
async def test_a_request_thread_runs_calls_in_order_and_hands_back_outcomes() -> None:
    """call() and submit() share one thread, in order; results and errors
    reach the awaiting coroutine."""
    import threading

    from core.handlers.threads import RequestThread

    thread = RequestThread("test-request-thread")
    ran: list[tuple[str, int]] = []

    def note(name: str) -> str:
        ran.append((name, threading.get_ident()))
        return name

    def fail() -> None:
        raise ValueError("from the thread")

    try:
        first = thread.call(lambda: note("first"))
        second = asyncio.wrap_future(thread.submit(note, "second"))
        third = thread.call(lambda: note("third"))
        outcomes: list[str] = await asyncio.gather(first, second, third)
        assert outcomes == ["first", "second", "third"]
        with pytest.raises(ValueError, match="from the thread"):
            await thread.call(fail)
    finally:
        thread.shutdown()

    assert [name for name, _ in ran] == ["first", "second", "third"]
    assert len({ident for _, ident in ran}) == 1
    assert threading.main_thread().ident not in {ident for _, ident in ran}


@pytest.mark.asyncio
async def test_a_call_whose_caller_went_away_before_it_started_does_not_run() -> None:
    """As with a cancelled executor future: a queued call of a cancelled
    caller is skipped; the call running at the time finishes."""
    import time

    from core.handlers.threads import RequestThread

    thread = RequestThread("test-request-thread")
    ran: list[str] = []
    try:

        def busy_call() -> None:
            time.sleep(0.3)
            ran.append("busy")

        busy = thread.call(busy_call)
        queued = thread.call(functools.partial(ran.append, "queued"))
        await asyncio.sleep(0.1)
        queued.cancel()
        busy.cancel()  # already running: it finishes regardless
        await asyncio.sleep(0.4)
    finally:
        thread.shutdown()

    assert ran == ["busy"]
