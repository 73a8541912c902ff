"""Database work from async code: one trip to the request's thread per call.

`db_call(func)` is `sync_to_async(func)` that, with Django's connection pool,
hands the connection back to the pool when `func` returns, unless a
transaction is still open (the test suite's, or an enclosing atomic block).
A request whose database work all went through it then holds no connection
when its response is closed, and config/asgi_handler.py closes it on the
event loop instead of making one more trip to the thread for it. Without a
pool (SQLite, persistent connections) it is plain `sync_to_async`.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


def release_pooled_connections() -> None:
    """Give this thread's pooled connections back, where no transaction is open."""
    for conn in connections.all(initialized_only=True):
        if (
            conn.connection is not None
            and getattr(conn, "pool", None) is not None
            and not conn.in_atomic_block
        ):
            conn.close()


def holds_connection() -> bool:
    """Whether this thread still has a database connection open.

    Django's connections are thread-local (not per async context): ask on
    the thread that ran the queries.
    """
    return any(
        conn.connection is not None for conn in connections.all(initialized_only=True)
    )


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`sync_to_async(func)`, giving a pooled connection back when it returns."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            release_pooled_connections()

    return sync_to_async(run)
