"""Reads of jobs: what an actor may see, one job, a filtered list."""

import uuid

from django.db.models import QuerySet

from core.db.calls import db_call
from users.models import User
from utilities.errors import JobNotFound
from utilities.models import Job


def jobs_visible_to(actor: User) -> QuerySet[Job]:
    """Return the jobs `actor` may see and cancel: staff all, others their own.

    Anyone else's job is a 404, so job ids cannot be probed.
    """
    if actor.is_staff:
        return Job.objects.all()
    return Job.objects.filter(owner=actor)


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
