"""What runs a job, in a worker process: mark it running, run it, report.

Called by the task (utilities/tasks.py). A job runs only if it moves from
queued to running under its row lock, so one cancelled while queued never
runs; a running one reports progress and its heartbeat, and stops when its
cancellation is asked (utilities/runners.py kills a process function).
"""

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import ApiError
from utilities import runners
from utilities.catalogue import registry
from utilities.errors import JobCancelled
from utilities.housekeeping import jobs_prune, jobs_reap
from utilities.models import Job

logger = logging.getLogger(__name__)

Status = Job.Status


class _Reporter:
    """Progress writes and cancellation checks of a running job, throttled."""

    def __init__(
        self,
        job_id: uuid.UUID,
        write_every_s: float = 0.5,
        check_every_s: float = 0.25,
        heartbeat_every_s: float = 5.0,
    ) -> None:
        self.job_id = job_id
        self.write_every_s = write_every_s
        self.check_every_s = check_every_s
        self.heartbeat_every_s = heartbeat_every_s
        self._written_at = 0.0
        self._checked_at = 0.0
        self._beat_at = time.monotonic()  # job_run set heartbeat_at as it started
        self._cancelled = False

    def report(self, fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - self._written_at >= self.write_every_s:
            self._written_at = now
            Job.objects.filter(pk=self.job_id, status=Status.RUNNING).update(
                progress=fraction
            )

    def cancelled(self) -> bool:
        """Whether cancellation was asked; also the worker's heartbeat (polled)."""
        now = time.monotonic()
        if now - self._beat_at >= self.heartbeat_every_s:
            self._beat_at = now
            Job.objects.filter(pk=self.job_id, status=Status.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        if not self._cancelled and now - self._checked_at >= self.check_every_s:
            self._checked_at = now
            self._cancelled = Job.objects.filter(
                pk=self.job_id, cancel_requested=True
            ).exists()
        return self._cancelled


def _finish(job_id: uuid.UUID, status: str, **fields: Any) -> None:
    Job.objects.filter(pk=job_id, status=Status.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )


def job_run(*, job_id: str) -> None:
    """Run a queued job to its end (called by the task, in a worker process)."""
    job = _start(job_id)
    if job is None:
        return  # cancelled while queued, or pruned: it never runs
    # Its log lines carry the id of the request that submitted it.
    with structlog.contextvars.bound_contextvars(
        job_id=job_id, request_id=job.request_id or None
    ):
        _run_started(job)


def _start(job_id: str) -> Job | None:
    """Mark a queued job running, under its row lock; None if it may not run."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Status.QUEUED:
            return None
        job.status = Status.RUNNING
        job.started_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "started_at", "heartbeat_at"])
    return job


def _run_started(job: Job) -> None:
    utility = registry.get(job.utility)
    if utility is None:
        _finish(
            job.pk,
            Status.FAILED,
            error={"code": "unknown_utility", "detail": "No such utility."},
        )
        return
    reporter = _Reporter(job.pk)
    try:
        args = utility.args_model.model_validate(job.arguments)
        value = runners.run_for_job(
            utility,
            runners.arguments_of(args),
            on_progress=reporter.report,
            cancelled=reporter.cancelled,
        )
        result = utility.result_model(result=value).model_dump(mode="json")["result"]
    except JobCancelled:
        _finish(job.pk, Status.CANCELLED)
    except ApiError as exc:
        _finish(job.pk, Status.FAILED, error={"code": exc.code, "detail": exc.detail})
    except Exception:
        logger.exception("Job %s (%s) failed", job.pk, job.utility)
        error = {"code": "server_error", "detail": "Internal server error."}
        _finish(job.pk, Status.FAILED, error=error)
    else:
        _finish(job.pk, Status.SUCCEEDED, result=result, progress=1.0)
    # Retention needs no cron: each finished job sweeps the expired ones, and
    # fails those whose worker has died.
    jobs_prune(older_than=timedelta(days=settings.UTILITIES_JOB_RETENTION_DAYS))
    jobs_reap(stale_after=timedelta(seconds=settings.UTILITIES_JOB_STALE_AFTER_S))
