"""Jobs through a real database worker, with real commits.

Marked `asyncio` with `tx_db`: the worker, the requests and the test each use
their own connection, as in production.
"""

import asyncio
import os
import threading
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django_tasks_db.management.commands.db_worker import Worker

from utilities import runners
from utilities.models import Job


def _drain() -> None:
    """Run `db_worker --batch` in this thread: every ready task, then return."""
    try:
        Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test-worker",
            excluded_queue_names=[],
        ).run()
    finally:
        connections.close_all()


@pytest.mark.asyncio
async def test_worker_runs_submitted_job_to_its_result(
    api: httpx.AsyncClient, tx_db: None
) -> None:
    """A job submitted over HTTP is picked up by db_worker and succeeds."""
    submitted = await api.post(
        "/api/utilities/count_primes/jobs", json={"limit": 10**6}
    )

    await sync_to_async(_drain, thread_sensitive=False)()

    body = (await api.get(submitted.headers["Location"])).json()
    assert (body["status"], body["result"], body["progress"]) == (
        "succeeded",
        78498,
        1.0,
    )
    job = await Job.objects.aget(pk=body["id"])
    assert job.heartbeat_at is not None  # the worker's sign of life (jobs_reap)


async def _until_running(job_id: str) -> Job:
    """The job once it has reported progress: running in a pool worker (10 s bound)."""
    for _ in range(200):
        job = await Job.objects.aget(pk=job_id)
        if job.progress:
            break
        await asyncio.sleep(0.05)
    return job


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.asyncio
async def test_running_job_stops_when_cancelled(
    api: httpx.AsyncClient, tx_db: None
) -> None:
    """DELETE on a running job stops it: it ends `cancelled`, without a result."""
    submitted = await api.post(
        "/api/utilities/count_primes/jobs", json={"limit": 10**9}
    )
    job_id = submitted.json()["id"]
    worker = threading.Thread(target=_drain)
    worker.start()
    try:
        job = await _until_running(job_id)
        assert job.status == Job.Status.RUNNING

        response = await api.post(f"/api/jobs/{job_id}/cancel")
    finally:
        await asyncio.to_thread(worker.join, 30)

    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    job = await Job.objects.aget(pk=job_id)
    assert (job.status, job.result) == (Job.Status.CANCELLED, None)
    assert 0 < (job.progress or 0) < 1


@pytest.mark.asyncio
async def test_cancelling_a_running_job_kills_its_worker_process(
    api: httpx.AsyncClient, tx_db: None
) -> None:
    """The process computing a cancelled job is killed (the pool replaces
    it), not left to compute on, holding a pool worker and a core until the
    function returns or its time limit (600 s) passes. Nothing else runs in
    this process's pool meanwhile: the job's worker is the one that goes."""
    submitted = await api.post(
        "/api/utilities/count_primes/jobs", json={"limit": 10**9}
    )
    job_id = submitted.json()["id"]
    worker = threading.Thread(target=_drain)
    worker.start()
    try:
        job = await _until_running(job_id)
        assert job.status == Job.Status.RUNNING
        workers = runners.process_worker_pids()  # the job's among them

        response = await api.post(f"/api/jobs/{job_id}/cancel")
        deadline = time.monotonic() + 5  # a bound, not a speed asserted
        gone: set[int] = set()
        while not gone and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            gone = {pid for pid in workers if not _alive(pid)}
    finally:
        await asyncio.to_thread(worker.join, 30)

    assert response.status_code == 202
    job = await Job.objects.aget(pk=job_id)
    assert (job.status, job.result) == (Job.Status.CANCELLED, None)
    assert len(gone) == 1, f"of the pool's workers {workers}, {gone} ended"
    assert gone.isdisjoint(runners.process_worker_pids())
