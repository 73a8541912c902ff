"""`manage.py prune_jobs`: delete finished jobs past their retention period, and
fail running jobs whose worker has died (no heartbeat for UTILITIES_JOB_STALE_AFTER_S)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from utilities.housekeeping import jobs_prune, jobs_reap


class Command(BaseCommand):
    help = (
        "Delete finished jobs (and their task results) older than the retention period."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=float,
            default=None,
            help="Retention in days (default: UTILITIES_JOB_RETENTION_DAYS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is None:
            days = settings.UTILITIES_JOB_RETENTION_DAYS
        reaped = jobs_reap(
            stale_after=timedelta(seconds=settings.UTILITIES_JOB_STALE_AFTER_S)
        )
        self.stdout.write(f"Failed {reaped} running job(s) whose worker stopped.")
        deleted = jobs_prune(older_than=timedelta(days=days))
        self.stdout.write(
            f"Deleted {deleted} finished job(s) older than {days} day(s)."
        )
        # The task results the database backend keeps, under the same rule.
        call_command(
            "prune_db_task_results",
            queue_name="*",
            min_age_days=int(days),
            verbosity=options["verbosity"],
        )
