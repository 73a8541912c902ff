"""A database that cannot serve a request: 503 `database_unavailable`, with
Retry-After, in the API's error shape (core/errors.py).

The faults are raised by the test connection's own queries (Django's
`execute_wrapper`, entered in a sync fixture: in rollback mode the requests'
queries run on that connection), so the real API object, its error handlers
and the ASGI stack handle them. One fault is PostgreSQL's own. The outages
themselves (server down, pool exhausted) are in tests/e2e/faults/, which is slow.
"""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import psycopg_pool
import pytest
from django.db import InterfaceError, OperationalError, connection

from core.db.calls import libpq_params
from core.errors import DatabaseUnavailable
from utilities.models import Job

pytestmark = pytest.mark.django_db

# Listed here, not taken from core.errors.DATABASE_DOWN_ERRORS: a class
# dropped from that tuple must fail its case, not lose it.
DATABASE_DOWN = [
    pytest.param(OperationalError, id="OperationalError"),
    pytest.param(InterfaceError, id="InterfaceError"),
    pytest.param(psycopg_pool.PoolTimeout, id="PoolTimeout"),
    pytest.param(psycopg_pool.TooManyRequests, id="TooManyRequests"),
]

SECRET = "server at 10.0.0.7 closed the connection"  # must not reach the client


class Fault:
    """Makes the queries run on the connection it wraps raise `error`, as a
    database gone or busy would, except those that mention `sparing`."""

    def __init__(self) -> None:
        self.error: type[Exception] | None = None
        self.sparing = ""

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        if self.error is not None and not (self.sparing and self.sparing in sql):
            raise self.error(SECRET)
        return execute(sql, params, many, context)


@pytest.fixture
def fault(db: None) -> Iterator[Fault]:
    """A Fault on the test's connection, the one requests use; off until set."""
    fault = Fault()
    with connection.execute_wrapper(fault):
        yield fault


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "tag:ninja-service,2026:problem:database_unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": DatabaseUnavailable.detail,
        "code": "database_unavailable",
        "errors": None,
    }  # a Problem, and nothing of the exception's message
    assert response.headers["Retry-After"].isdigit()


@pytest.mark.parametrize("error", DATABASE_DOWN)
async def test_database_fault_in_a_handler_is_503(
    api: httpx.AsyncClient, fault: Fault, error: type[Exception]
) -> None:
    """The token is looked up; the handler's own query fails."""
    fault.error, fault.sparing = error, "users_apitoken"

    response = await api.get("/api/users/me")

    assert_database_unavailable(response)


@pytest.mark.parametrize("error", DATABASE_DOWN)
async def test_database_fault_in_the_token_lookup_is_503(
    api: httpx.AsyncClient, fault: Fault, error: type[Exception]
) -> None:
    """The first query of a request is its token's lookup: a database down
    there is a 503 too, not a 401 or a 500."""
    fault.error = error

    response = await api.get("/api/users/me")

    assert_database_unavailable(response)


@pytest.fixture
def jobs_locked_elsewhere(db: None) -> Iterator[None]:
    """Another session holds the jobs table locked; this test's transaction
    gives up waiting for a lock after 0.1 s."""
    with psycopg.connect(**libpq_params()) as other:
        other.execute(f"LOCK TABLE {Job._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '100ms'")
        yield
        other.rollback()


# lock_timeout is PostgreSQL's; SQLite would wait its 20 s busy timeout.
@pytest.mark.requires("postgresql")
async def test_query_cancelled_by_postgresql_is_503(
    api: httpx.AsyncClient, jobs_locked_elsewhere: None
) -> None:
    """A real fault: PostgreSQL cancels the handler's query once it has
    waited past lock_timeout (psycopg's LockNotAvailable, which Django
    raises as its OperationalError, as it does a statement timeout)."""
    response = await api.get("/api/jobs/00000000-0000-4000-8000-000000000000")

    assert_database_unavailable(response)
