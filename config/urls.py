"""URL configuration: the admin, the API (docs at /api/docs) and /metrics."""

from django.contrib import admin
from django.urls import path, re_path

from config.api import api
from core.errors import api_not_found
from core.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    # Any other /api/ path: the API's 404, in debug too (not Django's page).
    re_path(r"^api/", api_not_found),
    path("metrics", metrics_view, name="metrics"),  # Prometheus; off without a token
]

handler400 = "core.errors.handler400"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
