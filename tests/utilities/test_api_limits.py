"""Limits on utility calls: time (504), concurrency (503) and body size (413)."""

import asyncio
import os

import httpx
import pytest
from pytest_django import Settings

from utilities import runners

SAMPLES = pytest.mark.urls("tests.utilities.urls")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_overrunning_process_call_is_504_and_its_worker_replaced(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A call over its time limit answers 504; the worker that ran it is killed."""
    warm = await api.post("/api/utilities/count_primes", json={"limit": 10})
    assert warm.status_code == 200
    before = runners.process_worker_pids()
    settings.UTILITIES_OVERRIDES = {"count_primes": {"timeout_s": 0.2}}

    response = await api.post("/api/utilities/count_primes", json={"limit": 10**9})

    assert response.status_code == 504
    assert response.json()["code"] == "timeout"
    killed = before - runners.process_worker_pids()
    assert len(killed) == 1
    assert not _alive(killed.pop())
    settings.UTILITIES_OVERRIDES = {}
    again = await api.post("/api/utilities/count_primes", json={"limit": 100})
    assert again.json() == {"result": 25}


@SAMPLES
async def test_overrunning_async_call_is_504(api: httpx.AsyncClient) -> None:
    """An inline `async def` over its limit (0.2 s) is cancelled with 504."""
    response = await api.post("/api/utilities/nap", json={"seconds": 5})

    assert response.status_code == 504


@SAMPLES
async def test_overrunning_thread_keeps_its_slot_until_it_ends(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A thread past its limit answers 504 but still counts against the bound."""
    settings.UTILITIES_OVERRIDES = {"slow": {"concurrency": 1, "queue_size": 0}}

    late = await api.post("/api/utilities/slow", json={"seconds": 1.0})
    refused = await api.post("/api/utilities/slow", json={"seconds": 0})

    assert late.status_code == 504
    assert refused.status_code == 503


async def test_calls_beyond_slots_and_queue_are_503_at_once(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """With one slot and no queue, a second concurrent call is refused before the first ends."""
    settings.UTILITIES_OVERRIDES = {"count_primes": {"concurrency": 1, "queue_size": 0}}
    order: list[int] = []

    async def call() -> httpx.Response:
        response = await api.post("/api/utilities/count_primes", json={"limit": 10**9})
        order.append(response.status_code)
        return response

    first, second = await asyncio.gather(call(), call())

    assert order == [503, 200]
    busy = first if first.status_code == 503 else second
    assert busy.headers["Retry-After"] == "1"
    assert busy.json()["code"] == "utility_busy"


async def test_queued_call_waits_for_a_free_slot(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """With one slot and a queue of one, the second call waits and then succeeds."""
    settings.UTILITIES_OVERRIDES = {"count_primes": {"concurrency": 1, "queue_size": 1}}

    responses = await asyncio.gather(
        api.post("/api/utilities/count_primes", json={"limit": 10**7}),
        api.post("/api/utilities/count_primes", json={"limit": 10**7}),
    )

    assert [r.json() for r in responses] == [{"result": 664579}] * 2


async def test_queue_wait_is_bounded(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A queued call that cannot get a slot within `queue_wait_s` is a 503."""
    settings.UTILITIES_OVERRIDES = {
        "count_primes": {"concurrency": 1, "queue_size": 1, "queue_wait_s": 0.05}
    }

    responses = await asyncio.gather(
        api.post("/api/utilities/count_primes", json={"limit": 10**9}),
        api.post("/api/utilities/count_primes", json={"limit": 10}),
    )

    assert sorted(r.status_code for r in responses) == [200, 503]


async def test_body_over_the_utility_bound_is_413(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A body larger than `max_body_bytes` is refused before it is parsed."""
    settings.UTILITIES_OVERRIDES = {"slugify": {"max_body_bytes": 100}}

    small = await api.post("/api/utilities/slugify", json={"text": "x" * 50})
    large = await api.post("/api/utilities/slugify", json={"text": "x" * 200})

    assert small.status_code == 200
    assert large.status_code == 413
    assert large.json()["code"] == "too_large"


async def test_body_over_django_limit_is_413(
    api: httpx.AsyncClient, settings: Settings, db: None
) -> None:
    """Any API body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413, not a 400 or 500."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = await api.post(
        "/api/users", json={"email": "a@example.com", "name": "x" * 2000}
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


async def test_process_workers_run_nicer_than_the_server(settings: Settings) -> None:
    """CPU-bound work runs at a lower priority than the server's event loop."""
    server = os.getpriority(os.PRIO_PROCESS, 0)

    worker = runners.process_pool().schedule(os.nice, args=(0,)).result(timeout=30)

    assert worker == min(19, server + settings.UTILITIES_PROCESS_NICE)
    assert settings.UTILITIES_PROCESS_NICE > 0
