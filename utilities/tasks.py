"""The task behind every job, for Django's Tasks interface (`manage.py db_worker`)."""

from django_tasks import task

from utilities.worker import job_run


@task()
def run_job(job_id: str) -> None:
    """Run one submitted job; its outcome is kept on the Job row, not here."""
    job_run(job_id=job_id)
