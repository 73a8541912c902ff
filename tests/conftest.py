"""Fixtures: the ASGI app over httpx, and the async database recipe.

Behaviour tests run in rollback mode: a hook runs `async def` tests under
`async_to_sync`, as django.test.TestCase does, so the test and each request
share the test's transaction and everything is rolled back. Race tests are marked `@pytest.mark.asyncio`, use `tx_db`
and get real commits, one connection per request.
"""

import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from django.core.cache import cache
from django.db import connections
from pytest_django import Settings

from core.db import calls as db
from tests import factories
from tests.helpers import client, requests_keep_the_test_connection
from tests.requirements import require
from users import tokens
from users.models import User
from users.token_cache import changes, verified
from users.token_changes import announced


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.requires(...)`: skip without it, with how to get it
    (tests/requirements.py)."""
    for marker in item.iter_markers("requires"):
        for name in marker.args:
            require(name)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run unmarked `async def` tests in the main thread, in its transaction."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj) or pyfuncitem.get_closest_marker(
        "asyncio"
    ):
        return None
    kwargs = {
        name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames
    }
    with requests_keep_the_test_connection():
        async_to_sync(pyfuncitem.obj)(**kwargs)
    return True


@pytest.fixture
def anon() -> httpx.AsyncClient:
    """A client that sends no credentials."""
    return client()


@pytest.fixture
def staff(db: None) -> User:
    """A staff member, who may do anything through the API."""
    return factories.user(email="staff@example.com", name="Staff", is_staff=True)


@pytest.fixture
def api(staff: User) -> httpx.AsyncClient:
    """A client authenticated as `staff` with a bearer token."""
    return client(factories.token(staff))


@pytest_asyncio.fixture
async def tx_db(transactional_db: None) -> AsyncIterator[None]:
    """Real commits for `@pytest.mark.asyncio` race tests; tables flushed after."""
    yield
    # The test's own ORM calls ran in asgiref's executor thread, and the
    # request threads keep theirs: close them, or the test database cannot
    # be dropped.
    await sync_to_async(connections.close_all)()
    from config.asgi import application
    from core.handlers.asgi import LongLivedThreadsASGIHandler

    if isinstance(application.handler, LongLivedThreadsASGIHandler):  # fast path
        await sync_to_async(application.handler.close_connections)()


@pytest.fixture
def fast_path_middleware(settings: Settings) -> None:
    """The fast path's middleware, whatever DJANGO_FAST_PATH: for the tests of
    the fast path itself (core/handlers/README.md), before they build a handler."""
    settings.MIDDLEWARE = settings.FAST_PATH_MIDDLEWARE


@pytest.fixture
def fast_path_app(fast_path_middleware: None) -> Any:
    """The application as served with DJANGO_FAST_PATH on, whatever the switch."""
    from config.asgi import _application

    return _application(fast_path=True)


@pytest.fixture
def ann(db: None) -> User:
    """A user made the way the API makes one."""
    return factories.user(email="ann@example.com", name="Ann", age=30)


@pytest.fixture
def bob(db: None) -> User:
    """A second user, without an age."""
    return factories.user(email="bob@example.com", name="Bob", age=None)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Start each test with empty rate-limit counters (the in-memory cache)
    and no token verified by an earlier test."""
    cache.clear()
    verified.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> Iterator[None]:
    """pytest-django's, and stop listening for token changes before the test
    databases are dropped: a LISTEN session left open keeps them in use."""
    yield
    changes.stop()


@pytest.fixture
def cached_tokens(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, django_db_setup: None
) -> Iterator[list[float]]:
    """Let each process trust a token it verified in the last 2 s, as an
    operator may choose (API_TOKEN_CACHE_SECONDS; off by default). The
    cache's clock is held still, so an entry cannot age out of a slow test;
    a test moves it by adding to the list's item. On PostgreSQL the process
    listens for token changes first (users/token_changes.py), and stops
    before the test ends: its session would keep the test database from
    being dropped. (It needs the test database set up first, to listen to it.)"""
    settings.API_TOKEN_CACHE_SECONDS = 2
    now = [1000.0]
    monkeypatch.setattr("users.token_cache.monotonic", lambda: now[0])
    if announced():
        assert changes.wait_listening(timeout=10), "no LISTEN session in 10 s"
    try:
        yield now
    finally:
        changes.stop()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The prefixes of the bearer tokens looked up in the database."""
    looked_up: list[str] = []
    real = tokens._token_row

    def spy(prefix: str) -> Any:
        looked_up.append(prefix)
        return real(prefix)

    monkeypatch.setattr(tokens, "_token_row", spy)
    return looked_up


@pytest.fixture
def one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the rate limits' clock still, so all of a test's requests fall in
    one fixed window. A test whose requests straddled a window's edge would
    see its count start again and miss the refusal it expects."""
    held = time.time()
    monkeypatch.setattr("core.throttling.time", SimpleNamespace(time=lambda: held))


@pytest.fixture(autouse=True)
def _unhashed_static_files(settings: Settings) -> None:
    """Serve static files by name: tests run without `collectstatic`'s manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }


def _called(func: Callable[..., Any]) -> str:
    """The name of what runs: db_call's wrapper (a bound `run`) names its function."""
    if isinstance(owner := getattr(func, "__self__", None), db.DbCall):
        func = owner.func
    return getattr(func, "__qualname__", repr(func))


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions requests send to a thread: through
    sync_to_async, or straight to the request's thread (core.db.calls.db_call)."""
    calls: list[str] = []
    real_call = SyncToAsync.__call__
    real_on_thread = db.on_request_thread

    async def counting_call(
        self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any
    ) -> Any:
        calls.append(_called(self.func))
        return await real_call(self, *args, **kwargs)

    async def counting_on_thread(
        thread: db.LentThread, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        calls.append(_called(func))
        return await real_on_thread(thread, func, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting_call)
    monkeypatch.setattr(db, "on_request_thread", counting_on_thread)
    return calls
