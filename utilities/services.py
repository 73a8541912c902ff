"""Writes of jobs: submit and cancel.

The Tasks interface carries the work to a worker; the Job row carries what it
does not: who asked for what, progress, cancellation, the outcome. A job runs
only if it moves from queued to running under a row lock (utilities/worker.py),
so one cancelled while queued never runs.
"""

import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel

from core.db.calls import db_call
from core.request_log import current_request_id
from users.models import User
from utilities.errors import JobFinished, JobNotFound
from utilities.models import Job
from utilities.registry import Utility
from utilities.selectors import jobs_visible_to
from utilities.tasks import run_job

Status = Job.Status


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
