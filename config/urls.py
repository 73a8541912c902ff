"""URL configuration: the admin and the API (docs at /api/docs)."""

from django.contrib import admin
from django.urls import path

from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]

handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
