"""The platform app: its system checks, request-signal and connection wiring."""

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import request_started
from django.db import close_old_connections, connections, reset_queries
from django.db.backends.signals import connection_created


def request_start_hooks_needed() -> bool:
    """Whether Django's request_started receivers have anything to do.

    `close_old_connections` at request start closes connections kept open
    across requests (CONN_MAX_AGE > 0). With CONN_MAX_AGE 0 (always, with the
    pool) its request_finished twin has already closed, or given back to the
    pool, every connection a request used, so at the start there is none.
    `reset_queries` clears the query log, which is only written with DEBUG on.
    Under ASGI each costs the request a thread hop.
    """
    return settings.DEBUG or any(
        connections[alias].settings_dict["CONN_MAX_AGE"] != 0 for alias in connections
    )


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform"

    def ready(self) -> None:
        from core import checks  # noqa: F401  # registers them
        from core.db.loaders import use_fast_timestamptz_loader

        connection_created.connect(use_fast_timestamptz_loader)

        if not request_start_hooks_needed():
            request_started.disconnect(close_old_connections)
            request_started.disconnect(reset_queries)
