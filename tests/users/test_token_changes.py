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

from core.db.calls import libpq_params
from tests import factories
from tests.helpers import token_call
from users import token_changes
from users.models import User
from users.token_cache import changes

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.requires("postgresql"),  # NOTIFY is PostgreSQL's
]


async def _elsewhere(sql: str, *params: Any) -> None:
    """Run `sql` in a session of its own, and commit."""
    async with await psycopg.AsyncConnection.connect(
        **libpq_params(), autocommit=True
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
    assert await token_call(raw) == 200
    return ann, raw


async def test_a_revocation_committed_elsewhere_stops_a_cached_token(
    tx_db: None, cached_tokens: list[float], lookups: list[str]
) -> None:
    """The entry is young (the clock is held still), so only the notice can
    stop it."""
    _, raw = await _cached_token()
    assert await token_call(raw) == 200
    assert len(lookups) == 1  # the second call came from the cache
    changes.notices.clear()

    await _elsewhere(
        "UPDATE users_apitoken SET revoked_at = now() WHERE prefix = %s",
        raw.split(".")[0],
    )
    await _until(lambda: "users_apitoken:UPDATE" in changes.notices, "heard")

    assert await token_call(raw) == 401


async def test_a_user_deactivated_elsewhere_is_refused_at_once(
    tx_db: None, cached_tokens: list[float]
) -> None:
    ann, raw = await _cached_token()
    changes.notices.clear()

    await _elsewhere("UPDATE users_user SET is_active = false WHERE id = %s", ann.pk)
    await _until(lambda: "users_user:UPDATE" in changes.notices, "heard")

    assert await token_call(raw) == 401


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
    assert await token_call(raw) == 200
    await _elsewhere("DELETE FROM users_apitoken WHERE prefix = %s", prefix)
    await _until(lambda: "users_apitoken:DELETE" in changes.notices, "heard")

    assert list(changes.notices) == ["users_apitoken:DELETE"]
    assert len(lookups) == 1  # the token stayed cached through the first two
    assert await token_call(raw) == 401


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

    assert await token_call(raw) == 200
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
    assert await token_call(raw) == 200

    assert len(lookups) == 2


async def test_a_cache_is_off_while_the_triggers_are_disabled(
    tx_db: None, cached_tokens: list[float], lookups: list[str]
) -> None:
    """A database without migration 0003's triggers announces nothing (code
    deployed before `migrate`, a restore without them): the session's next
    check turns the cache off."""
    disable = "ALTER TABLE users_apitoken {} TRIGGER users_apitoken_announce_change"
    await _elsewhere(disable.format("DISABLE"))
    try:
        await _until(lambda: not changes.listening, "off")
        _, raw = await _cached_token()
        assert await token_call(raw) == 200
        assert len(lookups) == 2
    finally:
        await _elsewhere(disable.format("ENABLE"))
    await _until(lambda: changes.listening, "on again")


class _Proxy:
    """A TCP proxy to PostgreSQL that can go silent: a network path that
    dies without closing (a partition, a NAT that forgets the connection)."""

    def __init__(self) -> None:
        self.silent = False
        self._transports: list[asyncio.BaseTransport] = []
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        async def forward(
            reader: asyncio.StreamReader, to: asyncio.StreamWriter
        ) -> None:
            while data := await reader.read(65536):
                if not self.silent:
                    to.write(data)
            to.close()

        async def serve(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, port)
            self._transports += [writer.transport, up_writer.transport]
            await asyncio.gather(
                forward(reader, up_writer), forward(up_reader, writer),
                return_exceptions=True,
            )  # fmt: skip

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        self._server.close()
        for transport in self._transports:
            transport.close()


async def test_a_session_gone_silent_turns_the_cache_off(
    tx_db: None,
    cached_tokens: list[float],
    lookups: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its checks go unanswered: within seconds nothing is served from the
    cache, so a revocation it cannot hear of still holds."""
    real = token_changes.connection_params()
    proxy = _Proxy()
    await proxy.start(real["host"], real["port"])
    changes.stop()
    monkeypatch.setattr(
        token_changes,
        "connection_params",
        lambda: {**real, "host": "127.0.0.1", "port": proxy.port},
    )
    try:
        await _until(lambda: changes.listening, "listening through the proxy")
        _, raw = await _cached_token()
        assert await token_call(raw) == 200
        assert len(lookups) == 1  # served from the cache

        proxy.silent = True
        await _until(lambda: not changes.listening, "taken for down")
        await _elsewhere(
            "UPDATE users_apitoken SET revoked_at = now() WHERE prefix = %s",
            raw.split(".")[0],
        )

        assert await token_call(raw) == 401
        assert len(lookups) == 2
    finally:
        proxy.close()
        # Stopping waits for the thread: off the loop, which closes the proxy.
        await asyncio.to_thread(changes.stop)


async def test_the_session_connects_whatever_the_database_url_names_it(
    tx_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DATABASE_URL=...?application_name=web` puts that name in Django's
    options; the session still connects, under a name of its own."""
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "application_name", "web")

    def name_in_session() -> str:
        with psycopg.connect(**token_changes.connection_params()) as conn:
            row = conn.execute("SHOW application_name").fetchone()
        assert row is not None
        return str(row[0])

    assert await asyncio.to_thread(name_in_session) == "token-changes"
