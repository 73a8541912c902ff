"""ASGI entry point: `uvicorn config.asgi:application`."""

import os
from typing import TYPE_CHECKING

import django

if TYPE_CHECKING:
    from core.handlers.asgi import LongLivedThreadsASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _application() -> "LongLivedThreadsASGIHandler":
    """Set Django up and return its handler (core/handlers/asgi.py): a
    long-lived request thread per pool connection but one, each keeping its
    own, or DJANGO_REQUEST_THREADS threads (0: none) without the pool."""
    from django.apps import apps

    if not apps.ready:  # already set up (tests): don't redo the logging config
        django.setup(set_prefix=False)
    from django.conf import settings

    from core.handlers.asgi import LongLivedThreadsASGIHandler

    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if pool and settings.DB_KEEP_CONNECTIONS:
        # One connection stays in the pool for any other thread's work.
        return LongLivedThreadsASGIHandler(
            threads=max(1, pool["max_size"] - 1),
            keep_connections=True,
            wait_s=pool["timeout"],
        )
    return LongLivedThreadsASGIHandler(threads=settings.REQUEST_THREADS)


application = _application()
