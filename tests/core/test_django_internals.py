"""The Django and asgiref internals the fast path relies on are those it was
written against (core/handlers/README.md, "What it relies on").

The fast path copies or bypasses code that is not public API: it forks
ASGIHandler.handle(), replaces MiddlewareMixin.__acall__() on the grounds that
the hooks it calls do no I/O, and closes, checks and keeps connections through
backend internals. Behaviour tests cover what it does today; these fail on an
upgrade that changes any of that code, so that someone re-reads it against the
fork before serving with it (DJANGO_FAST_PATH=false meanwhile). The hashes are
of the source as released (Django 5.2.19, asgiref 3.13.0): a change that turns
out harmless is recorded by updating the hash, in the commit that re-read it.
"""

import hashlib
import inspect
from collections.abc import Callable

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, ThreadSensitiveContext
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.handlers.asgi import ASGIHandler
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import DatabaseWrapper
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from django.utils.deprecation import MiddlewareMixin

# What the fast path relies on, the hash of its source, and which part relies on it.
PINNED: dict[str, tuple[Callable[[], object], str, str]] = {
    "ASGIHandler.__call__": (
        lambda: ASGIHandler.__call__,
        "f756809e9c9308dc",
        "core/handlers/asgi.py: __call__ does what it does, with a lent thread",
    ),
    "ASGIHandler.handle": (
        lambda: ASGIHandler.handle,
        "98faeb5bef800331",
        "core/handlers/asgi.py: handle_lent() is a fork of it",
    ),
    "MiddlewareMixin.__acall__": (
        lambda: MiddlewareMixin.__acall__,
        "adf8cbcaf9f11e45",
        "core/middleware.py: OnLoopMixin.__acall__ replaces it",
    ),
    "SecurityMiddleware": (
        lambda: security.SecurityMiddleware,
        "7c0daafdd127de47",
        "core/middleware.py: its hooks run on the loop (no I/O)",
    ),
    "SessionMiddleware": (
        lambda: sessions.SessionMiddleware,
        "81dfc7bdab259429",
        "core/middleware.py: on the loop but the save; skipped without cookies",
    ),
    "CommonMiddleware": (
        lambda: common.CommonMiddleware,
        "0a9411bc1510a38c",
        "core/middleware.py: on the loop; the probes skip process_request",
    ),
    "CsrfViewMiddleware": (
        lambda: csrf.CsrfViewMiddleware,
        "461e7a1110dea43f",
        "core/middleware.py: on the loop, process_view too; skipped without cookies",
    ),
    "AuthenticationMiddleware": (
        lambda: auth.AuthenticationMiddleware,
        "016788fb7214c6ed",
        "core/middleware.py: on the loop (lazy user); anonymous without cookies",
    ),
    "MessageMiddleware": (
        lambda: messages.MessageMiddleware,
        "68bbf99a11d6e87e",
        "core/middleware.py: on the loop, storage made lazily",
    ),
    "XFrameOptionsMiddleware": (
        lambda: clickjacking.XFrameOptionsMiddleware,
        "b005c3dcd16801e1",
        "core/middleware.py: its hooks run on the loop (no I/O)",
    ),
    "HttpResponseBase.close": (
        lambda: HttpResponseBase.close,
        "84589f5b23acbb23",
        "core/handlers/asgi.py: the response is closed on the loop",
    ),
    "BaseDatabaseWrapper.close_if_unusable_or_obsolete": (
        lambda: BaseDatabaseWrapper.close_if_unusable_or_obsolete,
        "9e0690a760eb710d",
        "core/db/calls.py: release_connections() gives connections back with it",
    ),
    "postgresql DatabaseWrapper._close": (
        lambda: vars(DatabaseWrapper)["_close"],
        "8e39d0e91862198c",
        "core/db/calls.py: closing a pooled connection gives it back to the pool",
    ),
    "postgresql DatabaseWrapper.pool": (
        lambda: vars(DatabaseWrapper)["pool"].fget,
        "e5c2654fdf2d5090",
        "core/db/calls.py: connection_lost() checks the pool it holds",
    ),
    "asgiref ThreadSensitiveContext.__aenter__": (
        lambda: ThreadSensitiveContext.__aenter__,
        "b0355bf6b275a7c2",
        "core/handlers/asgi.py: a request's calls go to its lent thread",
    ),
    "asgiref SyncToAsync.__call__": (
        lambda: SyncToAsync.__call__,
        "6376e33c6d3d94c5",
        "core/db/calls.py: db_call bypasses it on a request thread",
    ),
    "asgiref AsyncToSync.__call__": (
        lambda: AsyncToSync.__call__,
        "811b9e33968648b2",
        "core/handlers/asgi.py: AsyncToSync.executors.current marks a nested call",
    ),
}


@pytest.mark.parametrize("name", PINNED)
def test_the_fast_path_relies_on_the_internals_it_was_written_against(
    name: str,
) -> None:
    """The source is the one the fast path was written against."""
    get, pinned, relied_on_by = PINNED[name]

    source = inspect.getsource(get())  # type: ignore[arg-type]

    assert hashlib.sha256(source.encode()).hexdigest()[:16] == pinned, (
        f"{name} changed: re-read it for {relied_on_by} (core/handlers/README.md), "
        "then record its new hash here; serve with DJANGO_FAST_PATH=false until then."
    )


def test_a_nested_call_is_marked_where_the_handler_looks() -> None:
    """AsyncToSync.executors.current: set inside async_to_sync(), as the
    handler and db_call read it to keep the caller's thread."""
    seen: list[object] = []

    async def look() -> None:
        seen.append(getattr(AsyncToSync.executors, "current", None))

    AsyncToSync(look)()

    assert seen[0] is not None
