"""Tokens verified in this process in the last few seconds, so a busy client's
requests skip the lookup (off unless API_TOKEN_CACHE_SECONDS is set).

Looking a bearer token up costs a request ~0.2-0.3 ms of server CPU, a trip
to a request thread and a query (#6). With API_TOKEN_CACHE_SECONDS > 0, a
token verified here less than that long ago is trusted again without either.
This process's own writes forget every entry at once (users/tokens.py's
forget_verified()), and expiry is checked on every request. On PostgreSQL,
every other writer's change reaches this process as a notice within
milliseconds of its commit, and the cache is used only while this process
listens for them (users/token_changes.py). On other databases a token
revoked or a user deactivated by another server process keeps working here
until its entry is that old. Off by default (0).

Entries are keyed by the token's SHA-256 digest, never the token, and hold
the database row, not instances: each request makes its own.
"""

import threading
from collections import OrderedDict
from time import monotonic
from typing import Any

from django.conf import settings

from users.token_changes import TokenChanges, announced

# Enough for every client of a busy process; the oldest entry goes first.
MAX_ENTRIES = 10_000


class VerifiedTokens:
    """Token digest -> (database alias, row), each for a limited time."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, str, tuple[Any, ...]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()  # filled on request threads, read on the loop
        # Moves on each clear(): a row read before a clear() may be stale.
        self.generation = 0

    def get(self, digest: str) -> tuple[str, tuple[Any, ...]] | None:
        """The alias and row stored for `digest`, if stored less than the
        cache's lifetime ago; else None."""
        entry = self._entries.get(digest)
        if entry is None or not usable():
            return None
        stored_at, alias, row = entry
        if monotonic() - stored_at >= settings.API_TOKEN_CACHE_SECONDS:
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return alias, row

    def put(
        self, digest: str, alias: str, row: tuple[Any, ...], *, read_in: int
    ) -> None:
        """Remember a token just verified against the database, unless the
        cache was cleared since its row was read (generation `read_in`): a
        revocation may have been committed in between."""
        if settings.API_TOKEN_CACHE_SECONDS <= 0:
            return
        with self._lock:
            if read_in != self.generation or not usable():
                return
            self._entries[digest] = (monotonic(), alias, row)
            self._entries.move_to_end(digest)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1


verified = VerifiedTokens()
changes = TokenChanges(on_change=verified.clear)


def usable() -> bool:
    """Whether entries may be stored and served now: on PostgreSQL, only
    while this process listens for changes (starting to, if need be)."""
    return not announced() or changes.listening
