"""Jobs: submission, reading, listing, cancellation and running to a result."""

import uuid
from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from pytest_django import Settings

from utilities import worker
from utilities.models import Job

pytestmark = pytest.mark.django_db


async def _submit(api: httpx.AsyncClient, limit: int) -> httpx.Response:
    return await api.post("/api/utilities/count_primes/jobs", json={"limit": limit})


async def test_submission_is_202_with_location(api: httpx.AsyncClient) -> None:
    """A job is queued, with its URL in `Location` and a task behind it."""
    response = await _submit(api, 1000)

    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == f"/api/jobs/{body['id']}"
    assert (body["utility"], body["status"], body["progress"]) == (
        "count_primes",
        "queued",
        None,
    )
    assert (body["result"], body["error"], body["started_at"]) == (None, None, None)
    job = await Job.objects.aget(pk=body["id"])
    assert job.arguments == {"limit": 1000}
    task = await DBTaskResult.objects.aget(id=job.task_id)
    assert task.status == TaskResultStatus.READY
    fetched = await api.get(response.headers["Location"])
    assert fetched.json() == body


async def test_invalid_arguments_are_422_at_submission(api: httpx.AsyncClient) -> None:
    """Arguments are checked when the job is submitted; nothing is queued."""
    response = await _submit(api, -1)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "limit"]]
    assert await Job.objects.acount() == 0
    assert await DBTaskResult.objects.acount() == 0


async def test_function_that_cannot_run_as_job_has_no_job_route(
    api: httpx.AsyncClient,
) -> None:
    """Only functions registered with job=True accept jobs."""
    response = await api.post("/api/utilities/slugify/jobs", json={"text": "x"})

    assert response.status_code == 404


async def test_unknown_job_is_404_and_bad_id_is_422(api: httpx.AsyncClient) -> None:
    """A job id is a UUID; an unknown one is a 404."""
    missing = await api.get(f"/api/jobs/{uuid.uuid4()}")
    malformed = await api.get("/api/jobs/42")

    assert missing.status_code == 404
    assert missing.json()["code"] == "job_not_found"
    assert malformed.status_code == 422


async def test_list_is_newest_first_and_filters(api: httpx.AsyncClient) -> None:
    """Jobs are listed newest first, by status and utility, a page at a time."""
    ids = [(await _submit(api, n)).json()["id"] for n in (10, 20, 30)]
    await api.post(f"/api/jobs/{ids[0]}/cancel")

    everything = (await api.get("/api/jobs")).json()
    queued = (await api.get("/api/jobs", params={"status": "queued"})).json()
    page = (await api.get("/api/jobs", params={"limit": 1, "offset": 1})).json()
    other = (await api.get("/api/jobs", params={"utility": "slugify"})).json()

    assert [j["id"] for j in everything["items"]] == ids[::-1]
    assert [j["id"] for j in queued["items"]] == [ids[2], ids[1]]
    assert (page["count"], [j["id"] for j in page["items"]]) == (3, [ids[1]])
    assert other == {"items": [], "count": 0}


@pytest.mark.parametrize(
    "params", [{"status": "done"}, {"utility": "x;drop"}, {"limit": 0}]
)
async def test_bad_list_filters_are_422(
    api: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    """Unknown statuses and malformed names are refused."""
    response = await api.get("/api/jobs", params=params)

    assert response.status_code == 422


async def test_cancelled_queued_job_never_runs(api: httpx.AsyncClient) -> None:
    """Cancelling a queued job ends it at once, and a worker that picks it up skips it."""
    job_id = (await _submit(api, 10**6)).json()["id"]

    cancelled = await api.post(f"/api/jobs/{job_id}/cancel")
    await sync_to_async(worker.job_run)(job_id=job_id)  # as a worker would

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    job = await Job.objects.aget(pk=job_id)
    assert (job.status, job.started_at, job.result) == ("cancelled", None, None)


async def test_cancelling_a_finished_job_is_409(api: httpx.AsyncClient) -> None:
    """A job that has ended cannot be cancelled again."""
    job_id = (await _submit(api, 10)).json()["id"]
    await api.post(f"/api/jobs/{job_id}/cancel")

    response = await api.post(f"/api/jobs/{job_id}/cancel")

    assert response.status_code == 409
    assert response.json()["code"] == "job_finished"


async def test_cancelling_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    """DELETE of an id that does not exist is a 404."""
    response = await api.post(f"/api/jobs/{uuid.uuid4()}/cancel")

    assert response.status_code == 404


async def test_job_runs_to_its_result(api: httpx.AsyncClient) -> None:
    """A worker runs the job in the pool and stores result, progress and times."""
    job_id = (await _submit(api, 10**7)).json()["id"]

    await sync_to_async(worker.job_run)(job_id=job_id)

    body = (await api.get(f"/api/jobs/{job_id}")).json()
    assert (body["status"], body["result"], body["progress"]) == (
        "succeeded",
        664579,
        1.0,
    )
    assert body["started_at"] <= body["finished_at"]


async def test_job_over_its_time_limit_fails_with_timeout(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A job past its limit is stopped and fails with the `timeout` code."""
    settings.UTILITIES_OVERRIDES = {"count_primes": {"timeout_s": 0.2}}
    job_id = (await _submit(api, 10**9)).json()["id"]

    await sync_to_async(worker.job_run)(job_id=job_id)

    body = (await api.get(f"/api/jobs/{job_id}")).json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "timeout"
    assert body["result"] is None


def _finished_job(days_ago: float, status: str = Job.Status.SUCCEEDED) -> Job:
    finished = timezone.now() - timedelta(days=days_ago)
    return Job.objects.create(
        utility="count_primes",
        arguments={"limit": 1},
        status=status,
        finished_at=finished,
    )


def test_prune_deletes_only_finished_jobs_past_retention(settings: Settings) -> None:
    """`prune_jobs` removes jobs that ended before the retention period, nothing else."""
    settings.UTILITIES_JOB_RETENTION_DAYS = 7
    old = _finished_job(8)
    old_failed = _finished_job(30, Job.Status.FAILED)
    recent = _finished_job(1)
    running = Job.objects.create(
        utility="count_primes", arguments={"limit": 1}, status=Job.Status.RUNNING
    )

    call_command("prune_jobs", verbosity=0)

    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, running.pk}
    assert not {old.pk, old_failed.pk} & remaining
