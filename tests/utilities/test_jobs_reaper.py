"""Jobs whose worker died are failed, not left running (utilities.housekeeping.jobs_reap)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from utilities.housekeeping import jobs_reap
from utilities.models import Job

pytestmark = pytest.mark.django_db


def _job(status: str, heartbeat_ago: timedelta | None) -> Job:
    now = timezone.now()
    return Job.objects.create(
        utility="count_primes",
        arguments={"limit": 10},
        status=status,
        started_at=now - timedelta(hours=1) if status == Job.Status.RUNNING else None,
        heartbeat_at=now - heartbeat_ago if heartbeat_ago is not None else None,
    )


def test_running_job_without_a_recent_heartbeat_fails_as_worker_lost() -> None:
    dead = _job(Job.Status.RUNNING, heartbeat_ago=timedelta(minutes=10))
    alive = _job(Job.Status.RUNNING, heartbeat_ago=timedelta(seconds=3))
    queued = _job(Job.Status.QUEUED, heartbeat_ago=None)

    reaped = jobs_reap(stale_after=timedelta(minutes=2))

    assert reaped == 1
    dead.refresh_from_db()
    assert dead.status == Job.Status.FAILED
    assert dead.error == {
        "code": "worker_lost",
        "detail": "The worker running this job stopped.",
    }
    assert dead.finished_at is not None
    alive.refresh_from_db()
    queued.refresh_from_db()
    assert (alive.status, queued.status) == (Job.Status.RUNNING, Job.Status.QUEUED)


def test_prune_jobs_command_reaps_too() -> None:
    dead = _job(Job.Status.RUNNING, heartbeat_ago=timedelta(hours=1))
    out = StringIO()

    call_command("prune_jobs", stdout=out)

    dead.refresh_from_db()
    assert dead.status == Job.Status.FAILED
    assert "Failed 1 running job(s) whose worker stopped." in out.getvalue()
