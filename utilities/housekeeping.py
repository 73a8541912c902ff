"""Housekeeping of jobs: fail those whose worker died, delete old ones.

Run after every finished job (utilities/worker.py) and by `manage.py
prune_jobs`: retention needs no cron.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from utilities.models import Job

logger = logging.getLogger(__name__)

Status = Job.Status


def jobs_reap(*, stale_after: timedelta) -> int:
    """Fail running jobs whose worker gave no sign of life for `stale_after`.

    A worker killed mid-job (OOM, SIGKILL, a lost machine) leaves its job
    `running` forever otherwise. A live worker beats every few seconds
    (_Reporter.cancelled); if a slow one comes back, its _finish() finds
    the job no longer running and changes nothing. Returns how many failed.
    """
    now = timezone.now()
    reaped = Job.objects.filter(
        status=Status.RUNNING, heartbeat_at__lt=now - stale_after
    )
    count = reaped.update(
        status=Status.FAILED,
        finished_at=now,
        error={"code": "worker_lost", "detail": "The worker running this job stopped."},
    )
    if count:
        logger.warning("Failed %d job(s) whose worker stopped", count)
    return count


def jobs_prune(*, older_than: timedelta) -> int:
    """Delete jobs that finished more than `older_than` ago; return how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = Job.objects.filter(
        status__in=Job.FINISHED, finished_at__lt=cutoff
    ).delete()
    return deleted
