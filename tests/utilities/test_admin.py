"""Jobs in the admin: listed with progress, filterable, cancellable, read-only."""

import httpx
import pytest
from asgiref.sync import sync_to_async

from tests.helpers import csrf_token, log_in
from users.models import User
from utilities.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db: None) -> User:
    return User.objects.create_superuser(
        email="root@example.com", name="Root", password="a long unusual passphrase"
    )


def _job(status: str, progress: float | None = None) -> Job:
    return Job.objects.create(
        utility="count_primes",
        arguments={"limit": 10},
        status=status,
        progress=progress,
    )


async def test_job_list_shows_progress(
    api: httpx.AsyncClient, admin_user: User
) -> None:
    """A running job's progress shows as a bar and a percentage."""
    await sync_to_async(log_in)(api, admin_user)
    await sync_to_async(_job)(Job.Status.RUNNING, 0.42)

    response = await api.get("/admin/utilities/job/")

    assert response.status_code == 200
    assert '<progress value="42" max="100"' in response.text
    assert "42%" in response.text


async def test_job_list_filters_by_status(
    api: httpx.AsyncClient, admin_user: User
) -> None:
    """The status filter narrows the list."""
    await sync_to_async(log_in)(api, admin_user)
    queued = await sync_to_async(_job)(Job.Status.QUEUED)
    done = await sync_to_async(_job)(Job.Status.SUCCEEDED, 1.0)

    response = await api.get(
        "/admin/utilities/job/", params={"status__exact": "queued"}
    )

    assert str(queued.pk) in response.text
    assert str(done.pk) not in response.text


async def test_cancel_action(api: httpx.AsyncClient, admin_user: User) -> None:
    """The cancel action ends queued jobs, asks running ones to stop, skips finished ones."""
    await sync_to_async(log_in)(api, admin_user)
    queued = await sync_to_async(_job)(Job.Status.QUEUED)
    running = await sync_to_async(_job)(Job.Status.RUNNING, 0.5)
    done = await sync_to_async(_job)(Job.Status.SUCCEEDED, 1.0)
    page = await api.get("/admin/utilities/job/")
    token = csrf_token(page)

    response = await api.post(
        "/admin/utilities/job/",
        data={
            "csrfmiddlewaretoken": token,
            "action": "cancel_jobs",
            "_selected_action": [str(queued.pk), str(running.pk), str(done.pk)],
        },
        headers={"Referer": str(page.url)},
    )

    assert response.status_code == 302
    await queued.arefresh_from_db()
    await running.arefresh_from_db()
    await done.arefresh_from_db()
    assert queued.status == Job.Status.CANCELLED
    assert (running.status, running.cancel_requested) == (Job.Status.RUNNING, True)
    assert done.status == Job.Status.SUCCEEDED


async def test_jobs_are_read_only_in_the_admin(
    api: httpx.AsyncClient, admin_user: User
) -> None:
    """Jobs cannot be added, edited or deleted from the admin."""
    await sync_to_async(log_in)(api, admin_user)
    job = await sync_to_async(_job)(Job.Status.QUEUED)

    add = await api.get("/admin/utilities/job/add/")
    change = await api.get(f"/admin/utilities/job/{job.pk}/change/")
    delete = await api.get(f"/admin/utilities/job/{job.pk}/delete/")

    assert add.status_code == 403
    assert change.status_code == 200
    assert 'name="_save"' not in change.text
    assert delete.status_code == 403
