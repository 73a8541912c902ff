"""On PostgreSQL a change that can stop a token, committed by any writer,
reaches every process's token cache as a notice, at once.

"Elsewhere" is a session of its own that commits plain SQL: all this process
sees of another server process, the admin of another host, or a shell.
These tests commit (tx_db), and each waits, within a bound, for the notice
to arrive before it asserts.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from tests import factories
from tests.conftest import client
from users import tokens
from users.models import User
from users.token_cache import changes

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="NOTIFY is PostgreSQL's"
    ),
]

SLUG = {"text": "Hello World"}  # an endpoint that makes no query of its own


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The prefixes of the tokens looked up in the database."""
    looked_up: list[str] = []
    real = tokens._token_row

    def spy(prefix: str) -> Any:
        looked_up.append(prefix)
        return real(prefix)

    monkeypatch.setattr(tokens, "_token_row", spy)
    return looked_up


async def _call(raw: str) -> int:
    response = await client(raw).post("/api/utilities/slugify", json=SLUG)
    return response.status_code


async def _elsewhere(sql: str, *params: Any) -> None:
    """Run `sql` in a session of its own, and commit."""
    settings = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        settings.pop(key, None)
    async with await psycopg.AsyncConnection.connect(
        **settings, autocommit=True
    ) as other:
        await other.execute(sql, params)


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait, up to 10 s, for `condition`: a bound, not a speed asserted."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not {what} within 10 s")


async def _cached_token() -> tuple[User, str]:
    """A committed user and token, verified once, so it is now cached."""
    ann = await factories.auser(email="ann@example.com", name="Ann", age=30)
    raw = await sync_to_async(factories.token)(ann)
    assert await _call(raw) == 200
    return ann, raw


async def test_a_revocation_committed_elsewhere_stops_a_cached_token(
    tx_db: None, cached_tokens: list[float], lookups: list[str]
) -> None:
    """The entry is young (the clock is held still), so only the notice can
    stop it."""
    _, raw = await _cached_token()
    assert await _call(raw) == 200
    assert len(lookups) == 1  # the second call came from the cache
    changes.notices.clear()

    await _elsewhere(
        "UPDATE users_apitoken SET revoked_at = now() WHERE prefix = %s",
        raw.split(".")[0],
    )
    await _until(lambda: "users_apitoken:UPDATE" in changes.notices, "heard")

    assert await _call(raw) == 401


async def test_a_user_deactivated_elsewhere_is_refused_at_once(
    tx_db: None, cached_tokens: list[float]
) -> None:
    ann, raw = await _cached_token()
    changes.notices.clear()

    await _elsewhere("UPDATE users_user SET is_active = false WHERE id = %s", ann.pk)
    await _until(lambda: "users_user:UPDATE" in changes.notices, "heard")

    assert await _call(raw) == 401


async def test_only_changes_that_can_stop_a_token_are_announced(
    tx_db: None, cached_tokens: list[float], lookups: list[str]
) -> None:
    """A token's last use and a user's profile stop nothing, and last use is
    written once a minute per busy token: announcing them would empty every
    cache that often. Notices arrive in commit order, so once the last one
    is heard, an earlier one would have been too."""
    ann, raw = await _cached_token()
    prefix = raw.split(".")[0]
    changes.notices.clear()

    await _elsewhere(
        "UPDATE users_apitoken SET last_used_at = now(), name = 'ci' WHERE prefix = %s",
        prefix,
    )
    await _elsewhere(
        "UPDATE users_user SET name = 'Ann B.', email = 'ann.b@example.com',"
        " age = 31, updated_at = now() WHERE id = %s",
        ann.pk,
    )
    assert await _call(raw) == 200
    await _elsewhere("DELETE FROM users_apitoken WHERE prefix = %s", prefix)
    await _until(lambda: "users_apitoken:DELETE" in changes.notices, "heard")

    assert list(changes.notices) == ["users_apitoken:DELETE"]
    assert len(lookups) == 1  # the token stayed cached through the first two
    assert await _call(raw) == 401


async def test_a_dropped_session_forgets_every_cached_token(
    tx_db: None, cached_tokens: list[float], lookups: list[str]
) -> None:
    """A notice sent while the session was down is lost: the cache starts
    again empty once it listens again, so the next call is looked up."""
    _, raw = await _cached_token()
    sessions = changes.sessions

    await _elsewhere(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'token-changes' AND datname = current_database()"
    )
    await _until(lambda: changes.sessions == sessions + 1, "listening again")

    assert await _call(raw) == 200
    assert len(lookups) == 2


async def test_nothing_is_served_from_the_cache_without_a_session(
    tx_db: None,
    cached_tokens: list[float],
    lookups: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the process is not listening, a change made elsewhere could go
    unheard: every call is looked up."""
    changes.stop()
    monkeypatch.setattr(changes, "start", lambda: None)  # as if it cannot connect

    _, raw = await _cached_token()
    assert await _call(raw) == 200

    assert len(lookups) == 2
