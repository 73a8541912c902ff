"""The admin site: Django's, with its login rate-limited like the API's."""

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig as BaseAdminConfig
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.throttling import login_failed_sync, login_wait_sync


class ThrottledAdminSite(AdminSite):
    """Refuse admin log-in attempts past API_THROTTLE_LOGIN per address, or
    past API_THROTTLE_LOGIN_ACCOUNT failures per account (429)."""

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        email = str(request.POST.get("username", ""))
        if request.method == "POST":
            wait = login_wait_sync(request, email)
            if wait is not None:
                context = {
                    **self.each_context(request),
                    "title": "Too many attempts",
                    "wait": wait,
                }
                refused = TemplateResponse(
                    request, "admin/login_throttled.html", context, status=429
                )
                refused["Retry-After"] = str(wait)
                return refused
        response = super().login(request, extra_context)
        # A POST answered with the form again is a failed attempt.
        if request.method == "POST" and response.status_code == 200:
            login_failed_sync(request, email)
        return response


class AdminConfig(BaseAdminConfig):
    default_site = "core.admin_site.ThrottledAdminSite"
