"""Hear, in every server process, of each change that can stop a bearer token.

The token cache (users/token_cache.py) trusts a token verified moments ago.
On PostgreSQL a trigger (migration 0003) sends NOTIFY when a token is
revoked or a user deactivated, by any process or any writer, as the change
commits; each process keeps one session that LISTENs, on a thread of its
own, and forgets every cached token when one arrives. A change made
anywhere thus stops a cached token everywhere within the notice's trip,
milliseconds, not the cache's lifetime.

The cache is trusted only while the session is known to listen: until it
has started, and from the moment it drops until it listens again, nothing
is served from the cache (every request looks its token up), and
everything cached before is forgotten, since a notice may have been missed
meanwhile. "Known" means the session answered a check in the last
STALE_AFTER seconds: every CHECK_EVERY seconds it asks whether the
triggers are in place, so a session whose network path died silently, or a
database without migration 0003, turns the cache off within seconds.
TCP keepalives then end such a session, and the thread starts another.

The session is one more database connection per server process, only where
the cache is on. The cache's lifetime still bounds what a notice never sent
can cost: through PgBouncer's transaction pooling LISTEN hears nothing.
Other databases have no NOTIFY: their cache is this process's alone, as
users/token_cache.py says.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Any

import psycopg
from django.db import connections, router

from core.db.calls import libpq_params
from users.models import ApiToken

CHANNEL = "users_token_changes"  # migration 0003's triggers send on it
TRIGGERS = (  # migration 0003's, all of which must be in place and enabled
    "users_apitoken_announce_change",
    "users_apitoken_announce_truncate",
    "users_user_announce_change",
    "users_user_announce_truncate",
)
CHECK_EVERY = 2.0  # seconds between checks of the session
STALE_AFTER = 5.0  # seconds after its last answered check it is taken for down
_POLL = 0.5  # how often the thread looks up from the socket to see if it must stop
_RETRY = (0.1, 0.5, 1.0, 2.0, 5.0)  # waits between attempts to listen again
_TRIGGERS_IN_PLACE = (
    "SELECT count(*) FROM pg_trigger"
    " WHERE tgname = ANY(%s) AND tgenabled <> 'D' AND NOT tgisinternal"
)

log = logging.getLogger(__name__)


@cache
def _alias() -> str:
    return router.db_for_write(ApiToken)  # notices come from the primary


def connection_params() -> dict[str, Any]:
    """libpq's parameters for the session: Django's, and TCP keepalives, so a
    dead network path ends it (within ~15 s) instead of hanging it."""
    params = libpq_params(_alias())
    for key, value in (
        ("keepalives", 1),
        ("keepalives_idle", 5),
        ("keepalives_interval", 2),
        ("keepalives_count", 3),
        ("tcp_user_timeout", 15_000),  # ms: unacknowledged writes fail then
        ("connect_timeout", 5),
    ):
        params.setdefault(key, value)
    params["application_name"] = "token-changes"
    return params


@cache
def announced() -> bool:
    """Whether the tokens' database announces their changes (PostgreSQL)."""
    return connections[_alias()].vendor == "postgresql"


class TokenChanges:
    """A thread with one LISTEN session; `on_change` is called for each
    notice, when a session starts, and when it ends."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # the current thread's; each has its own
        # Monotonic time until which the session counts as listening: moved
        # on by each answered check, 0 when there is none.
        self._answered_until = 0.0
        self._said_missing = False  # that the triggers are missing, once
        self.sessions = 0  # sessions started, for tests and logs
        self.notices: deque[str] = deque(maxlen=100)  # the latest payloads

    @property
    def listening(self) -> bool:
        """Whether the session is known to listen now; starts the thread if
        there is none (or it died)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self.start()
        return time.monotonic() < self._answered_until

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="token-changes", daemon=True
            )
            self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """Start if need be; wait until the session listens (tests)."""
        deadline = time.monotonic() + timeout
        while not self.listening:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        """End the session and the thread (tests: before the database is dropped)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join()

    def _run(self, stop: threading.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                self._listen(stop)
                attempt = 0
            except psycopg.Error as exc:
                log.warning("token change notices interrupted: %s", exc)
                attempt += 1
            except Exception:  # a bug: keep trying, never serve unheard
                log.exception("token change notices interrupted")
                attempt += 1
            stop.wait(_RETRY[min(attempt, len(_RETRY) - 1)])

    def _listen(self, stop: threading.Event) -> None:
        """One session: listen until it fails or the thread is told to stop."""
        try:
            with psycopg.connect(**connection_params(), autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                self._on_change()  # a notice may have been missed before
                self.sessions += 1
                checked = 0.0
                while not stop.is_set():
                    if time.monotonic() - checked >= CHECK_EVERY:
                        self._check(conn)
                        checked = time.monotonic()
                    for notice in conn.notifies(timeout=_POLL):
                        self.notices.append(notice.payload)
                        self._on_change()
        finally:
            self._answered_until = 0.0
            self._on_change()

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """Count the session as listening for STALE_AFTER more seconds if it
        answers, and the triggers that send the notices are in place."""
        asked_at = time.monotonic()
        row = conn.execute(_TRIGGERS_IN_PLACE, [list(TRIGGERS)]).fetchone()
        if row is not None and row[0] == len(TRIGGERS):
            self._answered_until = asked_at + STALE_AFTER
            return
        if self._answered_until or not self._said_missing:
            log.warning(
                "token change notices: triggers missing (migrate users 0003):"
                " the token cache is off"
            )
            self._said_missing = True
        self._answered_until = 0.0
        self._on_change()
