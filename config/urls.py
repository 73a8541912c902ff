"""URL configuration: the admin, the API (docs at /api/docs) and /metrics."""

from django.contrib import admin
from django.urls import path

from config.api import api
from config.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", metrics_view, name="metrics"),  # Prometheus; off without a token
]

handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
