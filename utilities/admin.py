"""Jobs in Django's admin: read-only, with progress and a cancel action."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from users.models import User
from utilities import services
from utilities.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = (
        "id",
        "utility",
        "owner",
        "status",
        "progress_bar",
        "created_at",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "utility")
    search_fields = ("=id", "owner__email")
    date_hierarchy = "created_at"
    actions = ("cancel_jobs",)

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        if job.progress is None:
            return "—"
        percent = round(job.progress * 100)
        return format_html(
            '<progress value="{}" max="100" title="{}%"></progress> {}%',
            percent,
            percent,
            percent,
        )

    @admin.action(description="Cancel the selected queued or running jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        actor = request.user
        assert isinstance(actor, User)  # the admin requires a logged-in staff user
        count = services.jobs_cancel(
            actor=actor, job_ids=queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Cancelled or asked to stop {count} job(s).")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Job | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Job | None = None
    ) -> bool:
        return False
