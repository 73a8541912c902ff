"""The admin site: Django's, with its login rate-limited like the API's."""

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig as BaseAdminConfig
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from config.clients import client_ip


class ThrottledAdminSite(AdminSite):
    """Refuse admin log-in attempts past API_THROTTLE_LOGIN per address (429)."""

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Imported here: this module loads with the app registry, before models.
        from config.security import login_limiter, security_log

        if request.method == "POST":
            ip = client_ip(request)
            wait = login_limiter.retry_after_sync(ip)
            if wait is not None:
                security_log.warning("throttled scope=admin-login ip=%s", ip)
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
            login_limiter.hit_sync(ip)
        response = super().login(request, extra_context)
        # A POST answered with the form again is a failed attempt.
        if request.method == "POST" and response.status_code == 200:
            security_log.warning("admin login failed ip=%s", client_ip(request))
        return response


class AdminConfig(BaseAdminConfig):
    default_site = "config.admin_site.ThrottledAdminSite"
