"""ASGI entry point: `uvicorn config.asgi:application`."""

import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _application() -> ASGIHandler:
    """Set Django up and return its handler (config/asgi_handler.py):
    DJANGO_REQUEST_THREADS long-lived request threads, 0 for none."""
    from django.apps import apps

    if not apps.ready:  # already set up (tests): don't redo the logging config
        django.setup(set_prefix=False)
    from django.conf import settings

    from config.asgi_handler import LongLivedThreadsASGIHandler

    return LongLivedThreadsASGIHandler(threads=settings.REQUEST_THREADS)


application = _application()
