"""Jobs: submit, run, cancel, read and prune.

The Tasks interface carries the work to a worker; the Job row carries what it
does not: who asked for what, progress, cancellation, the outcome. A job runs
only if it moves from queued to running under a row lock, so one cancelled
while queued never runs.
"""

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from pydantic import BaseModel

from config.db import db_call
from config.errors import ApiError
from config.request_log import current_request_id
from users.models import User
from utilities import runners
from utilities.catalogue import registry
from utilities.errors import JobCancelled, JobFinished, JobNotFound
from utilities.models import Job
from utilities.registry import Utility
from utilities.tasks import run_job

logger = logging.getLogger(__name__)

Status = Job.Status


def jobs_visible_to(actor: User) -> QuerySet[Job]:
    """Return the jobs `actor` may see and cancel: staff all, others their own.

    Anyone else's job is a 404, so job ids cannot be probed.
    """
    if actor.is_staff:
        return Job.objects.all()
    return Job.objects.filter(owner=actor)


def _job_submit(*, actor: User, utility: Utility, args: BaseModel) -> Job:
    # The database backend stores the task in this transaction: the job and
    # its task are committed together or not at all.
    with transaction.atomic():
        job = Job.objects.create(
            utility=utility.name,
            owner=actor,
            arguments=args.model_dump(mode="json"),
            request_id=current_request_id() or "",
        )
        job.task_id = str(run_job.enqueue(str(job.pk)).id)
        job.save(update_fields=["task_id"])
    return job


def _job_cancel(*, actor: User, job_id: uuid.UUID) -> Job:
    with transaction.atomic():
        job = jobs_visible_to(actor).select_for_update().filter(pk=job_id).first()
        if job is None:
            raise JobNotFound()
        if job.status == Status.QUEUED:
            job.status = Status.CANCELLED
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at"])
        elif job.status == Status.RUNNING:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
        else:
            raise JobFinished()
    return job


def jobs_cancel(*, actor: User, job_ids: Iterable[uuid.UUID]) -> int:
    """Cancel every queued or running job of `job_ids`; return how many (admin)."""
    count = 0
    for job_id in job_ids:
        try:
            _job_cancel(actor=actor, job_id=job_id)
        except (JobFinished, JobNotFound):
            continue
        count += 1
    return count


async def job_submit(*, actor: User, utility: Utility, args: BaseModel) -> Job:
    """Queue a run of `utility` for `actor`, with arguments its schema validated."""
    return await db_call(_job_submit)(actor=actor, utility=utility, args=args)


async def job_cancel(*, actor: User, job_id: uuid.UUID) -> Job:
    """Cancel a queued job now, or ask a running one to stop.

    Raises JobNotFound, or JobFinished for a job that has already ended.
    """
    return await db_call(_job_cancel)(actor=actor, job_id=job_id)


async def job_get(*, actor: User, job_id: uuid.UUID) -> Job:
    """Return one job `actor` may see, or raise JobNotFound."""
    try:
        return await db_call(jobs_visible_to(actor).get)(pk=job_id)
    except Job.DoesNotExist as exc:
        raise JobNotFound() from exc


def job_list(
    *, actor: User, status: str | None = None, utility: str | None = None
) -> QuerySet[Job]:
    """Return the jobs `actor` may see, newest first, lazily, filtered."""
    jobs = jobs_visible_to(actor)
    if status is not None:
        jobs = jobs.filter(status=status)
    if utility is not None:
        jobs = jobs.filter(utility=utility)
    return jobs.order_by("-created_at", "-id")


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
