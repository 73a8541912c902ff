"""Database work from async code: one trip to a request thread per call.

`db_call(func)` is `sync_to_async(func)`. Inside a request served by
core/handlers/asgi.py (which sets `request_thread`), the call goes to a
request thread directly, in a copy of the caller's context: without
asgiref's per-call machinery (executor lookup, thread-local setup, context
copied back), about half the CPU of a trip (#6), and its outcome comes back
to the loop directly (RequestThread.call). The thread then checks a kept
connection before the call, or gives its connections back after it
(run_on_kept_connection, release_connections; core/handlers/threads.py).
A cancelled caller leaves a started call to finish on its thread, as asgiref
does; a call not yet started is skipped.

Anywhere else (the tests' rollback mode under async_to_sync, management
commands) it is `sync_to_async`, and with Django's connection pool it hands
the connection back when `func` returns, unless a transaction is still open
(release_pooled_connections).
"""

import contextlib
import contextvars
import functools
import select
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

import psycopg
from asgiref.sync import AsyncToSync, sync_to_async
from django.db import InterfaceError, OperationalError, connections
from psycopg import pq

from core import metrics

_thread = threading.local()

P = ParamSpec("P")
R = TypeVar("R")


class LentThread(Protocol):
    """The thread lent to a request (core/handlers/asgi.py)."""

    def call(self, fn: Callable[[], Any]) -> Awaitable[Any]:
        """Run `fn` on the thread; await its outcome on the event loop."""
        ...


# The thread lent to the request being served (core/handlers/asgi.py).
request_thread: contextvars.ContextVar[LentThread | None] = contextvars.ContextVar(
    "request_thread", default=None
)


def mark_keeper() -> None:
    """Mark this thread as one that keeps its connection between calls
    (a request thread of core/handlers/asgi.py with keep_connections)."""
    _thread.keeps_connection = True


def closed_by_server(raw: "psycopg.Connection[Any]") -> bool:
    """Whether the server has spoken to, or hung up on, this idle session.

    One non-blocking poll of the socket, no round trip. An idle session of
    Django's never listens, so the server only writes to it to end it: a
    FATAL on shutdown, restart or pg_terminate_backend, then end of stream.
    """
    try:
        readable, _, _ = select.select((raw.fileno(),), (), (), 0)
    except (OSError, ValueError, psycopg.Error):  # no socket left
        return True
    return bool(readable)


_purging = threading.Lock()


def connection_lost() -> None:
    """One connection was found dead: a restart kills them all. Check the
    pool's idle connections now (a round trip each; the dead ones fail at
    once and are replaced), so no request is handed one."""
    if not _purging.acquire(blocking=False):
        return  # another thread is at it
    try:
        metrics.db_connections_lost.inc()
        for conn in connections.all(initialized_only=True):
            pool = getattr(conn, "pool", None)
            if pool is not None:
                with contextlib.suppress(Exception):  # a pool closed meanwhile
                    pool.check()
    finally:
        _purging.release()


def drop_unusable_connections() -> None:
    """Close this thread's kept connections that cannot serve the next call.

    Django checks a connection at request start and end (request_started,
    request_finished); a kept connection is checked here instead, before each
    call, without a round trip: after an error, once broken or closed, left
    inside a transaction, or closed by the server while idle (a restart). The
    call then runs on a fresh connection: a statement that would have found
    the connection dead never reaches it (#16).
    """
    lost = False
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is None or conn.in_atomic_block:
            continue
        if raw.closed or raw.broken or closed_by_server(raw):
            lost = True
            with contextlib.suppress(Exception):
                raw.close()  # the pool then discards it, instead of keeping it
            conn.close()
        elif (
            conn.errors_occurred
            or raw.info.transaction_status != pq.TransactionStatus.IDLE
        ):
            conn.close()
    if lost:
        connection_lost()


def run_on_kept_connection(fn: Callable[[], R]) -> R:
    """Run `fn` on this thread's kept connection, checked first."""
    drop_unusable_connections()
    try:
        return fn()
    except (OperationalError, InterfaceError):
        if any(
            conn.connection is not None and conn.connection.broken
            for conn in connections.all(initialized_only=True)
        ):
            connection_lost()
        raise


def release_connections() -> None:
    """Give back what this thread's last call left open (to the pool, or
    closed, as request_finished would), except inside a transaction."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def libpq_params(alias: str = "default") -> dict[str, Any]:
    """Django's connection parameters for `alias` as psycopg.connect() takes
    them, for a session of its own beside Django's (a LISTEN, a test's)."""
    params = connections[alias].get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)  # Django's, not libpq's
    return params


def release_pooled_connections() -> None:
    """Give this thread's pooled connections back, where no transaction is open,
    unless the thread keeps its connection."""
    if getattr(_thread, "keeps_connection", False):
        return
    for conn in connections.all(initialized_only=True):
        if (
            conn.connection is not None
            and getattr(conn, "pool", None) is not None
            and not conn.in_atomic_block
        ):
            conn.close()


class DbCall(Generic[P, R]):
    """db_call's wrapper: one small object per call site's use, no closures.

    Callers wrap at each use (`await db_call(f)(...)`), so making the wrapper
    is part of every request: two closures, functools.wraps and their
    ParamSpec annotations cost ~5 µs; this, ~0.3 µs (#6).
    """

    __slots__ = ("func",)

    def __init__(self, func: Callable[P, R]) -> None:
        self.func = func

    def run(self, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return self.func(*args, **kwargs)
        finally:
            release_pooled_connections()

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        thread = request_thread.get()
        # Sync code of this request that called async_to_sync() has the thread
        # waiting on it: asgiref then runs calls in that sync code's thread.
        if thread is None or getattr(AsyncToSync.executors, "current", None):
            return await sync_to_async(self.run)(*args, **kwargs)
        # The request thread gives connections back itself (_LentThread._run).
        return await on_request_thread(thread, self.func, *args, **kwargs)


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`sync_to_async(func)`, giving a pooled connection back when it returns."""
    return DbCall(func)


async def on_request_thread(
    thread: LentThread, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run `func` on the request's thread in a copy of the current context."""
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    result: R = await thread.call(call)
    return result
