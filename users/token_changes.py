"""Hear, in every server process, of each change that can stop a bearer token.

The token cache (users/token_cache.py) trusts a token verified moments ago.
On PostgreSQL a trigger (migration 0003) sends NOTIFY when a token is
revoked or a user deactivated, by any process or any writer, as the change
commits; each process keeps one session that LISTENs, on a thread of its
own, and forgets every cached token when one arrives. A change made
anywhere thus stops a cached token everywhere within the notice's trip,
milliseconds, not the cache's lifetime.

The cache is trusted only while the session listens: until it has
started, and from the moment it drops until it listens again, nothing is
served from the cache (every request looks its token up), and everything
cached before is forgotten, since a notice may have been missed meanwhile.
A silent session is checked with a query every CHECK_EVERY seconds.
The session is one more database connection per server process, only where
the cache is on. The cache's lifetime still bounds what a notice never sent
can cost: through PgBouncer's transaction pooling LISTEN hears nothing.
Other databases have no NOTIFY: their cache is this process's alone, as
users/token_cache.py says.
"""

import logging
import threading
from collections import deque
from collections.abc import Callable
from functools import cache

import psycopg
from django.db import connections, router

from users.models import ApiToken

CHANNEL = "users_token_changes"  # migration 0003's triggers send on it
CHECK_EVERY = 30.0  # seconds of silence before the session is checked
_POLL = 0.5  # how often the thread looks up from the socket to see if it must stop
_RETRY = (0.1, 0.5, 1.0, 2.0, 5.0)  # waits between attempts to listen again

log = logging.getLogger(__name__)


@cache
def _alias() -> str:
    return router.db_for_read(ApiToken)


@cache
def announced() -> bool:
    """Whether the tokens' database announces their changes (PostgreSQL)."""
    return connections[_alias()].vendor == "postgresql"


class TokenChanges:
    """A thread with one LISTEN session; `on_change` is called for each
    notice, when the session starts, and when it ends."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = threading.Event()
        self.sessions = 0  # sessions started, for tests and logs
        self.notices: deque[str] = deque(maxlen=100)  # the latest payloads

    @property
    def listening(self) -> bool:
        """Whether the session is listening now; starts the thread if need be."""
        if self._thread is None:
            self.start()
        return self._listening.is_set()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="token-changes", daemon=True
            )
            self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """Start if need be; wait until the session listens (tests, start-up)."""
        self.start()
        return self._listening.wait(timeout)

    def stop(self) -> None:
        """End the session and the thread (tests: before the database is dropped)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._listen()
                attempt = 0
            except psycopg.Error as exc:
                log.warning("token change notices interrupted: %s", exc)
                attempt += 1
            except Exception:  # a bug: keep trying, never serve unheard
                log.exception("token change notices interrupted")
                attempt += 1
            self._stop.wait(_RETRY[min(attempt, len(_RETRY) - 1)])

    def _listen(self) -> None:
        """One session: listen until it fails or the thread is told to stop."""
        params = connections[_alias()].get_connection_params()
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)  # Django's, not libpq's
        try:
            with psycopg.connect(
                **params, autocommit=True, application_name="token-changes"
            ) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                self._on_change()  # a notice may have been missed before
                self.sessions += 1
                self._listening.set()
                silent = 0.0
                while not self._stop.is_set():
                    heard = False
                    for notice in conn.notifies(timeout=_POLL):
                        self.notices.append(notice.payload)
                        self._on_change()
                        heard = True
                    silent = 0.0 if heard else silent + _POLL
                    if silent >= CHECK_EVERY:  # a dead peer fails here
                        conn.execute("SELECT 1")
                        silent = 0.0
        finally:
            self._listening.clear()
            self._on_change()
