"""ASGI entry point: `uvicorn config.asgi:application`."""

import os
from typing import TYPE_CHECKING

import django

if TYPE_CHECKING:
    from core.handlers.body_limit import BodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _application(fast_path: bool | None = None) -> "BodyLimit":
    """Set Django up and return its handler, refusing oversized bodies.

    On the fast path (DJANGO_FAST_PATH, core/handlers/README.md) it is
    core/handlers/asgi.py's: a long-lived request thread per pool connection
    but one, each keeping its own, or DJANGO_REQUEST_THREADS threads (0: none)
    without the pool. Off, it is Django's stock ASGIHandler.
    """
    from django.apps import apps

    if not apps.ready:  # already set up (tests): don't redo the logging config
        django.setup(set_prefix=False)
    from django.conf import settings
    from django.core.handlers.asgi import ASGIHandler

    from core.handlers.asgi import LongLivedThreadsASGIHandler
    from core.handlers.body_limit import BodyLimit

    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    handler: ASGIHandler
    if not (settings.FAST_PATH if fast_path is None else fast_path):
        handler = ASGIHandler()
    elif pool and settings.DB_KEEP_CONNECTIONS:
        # One connection stays in the pool for any other thread's work.
        handler = LongLivedThreadsASGIHandler(
            threads=max(1, pool["max_size"] - 1),
            keep_connections=True,
            wait_s=pool["timeout"],
        )
    else:
        handler = LongLivedThreadsASGIHandler(threads=settings.REQUEST_THREADS)
    return BodyLimit(handler)


application = _application()
