"""The shared cache: Redis when it answers, this process's memory when it doesn't.

The cache holds the rate limits' counters (core/throttling.py,
core/throttling.py). Redis lets every server process share one count, but it
is an optimisation, never a dependency (#16): with Django's RedisCache every
cache call raises while Redis is away, and every authenticated request was a
500. Here a call that cannot reach Redis is served by a per-process
LocMemCache instead, so each process still enforces every limit on its own
count, and a circuit breaker keeps the next calls from trying Redis at all
until `retry_after_s` has passed; then one call tries it again (others keep
to memory meanwhile). The outage is logged once when it starts and once when
it ends, and counted in metrics. The OPTIONS in settings bound how long one
try can take (a connect timeout, a read timeout, no retries).

Why not a library: django-redis's DJANGO_REDIS_IGNORE_EXCEPTIONS answers
None to every call (a limit would then never count), and the breaker
libraries (pybreaker, purgatory) would still need this fallback; the breaker
itself is the dozen lines of `_Breaker`.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core import metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")

CacheState = Literal["redis", "degraded", "local"]

# What Redis raises when it cannot be reached (refused, reset, timed out,
# still loading its data after a restart: BusyLoadingError is a subclass).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class _Breaker:
    """Closed: calls go to Redis. Open: they don't, until `retry_after_s` has
    passed; then one call at a time tries Redis again (half-open)."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        self.open_since: float | None = None  # wall clock, for /api/ready
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self._trying = False

    def allows(self) -> bool:
        if self.open_since is None:
            return True
        with self._lock:
            if self._trying or time.monotonic() < self._retry_at:
                return False
            self._trying = True  # this call tries Redis; the others wait
            return True

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._trying = False
            self._retry_at = time.monotonic() + self.retry_after_s
            if self.open_since is not None:
                return  # the same outage
            self.open_since = time.time()
        metrics.cache_outages.inc()
        logger.warning(
            "Redis is unreachable (%s): rate limits count in this process until "
            "it is back; trying again every %s s",
            error,
            self.retry_after_s,
        )

    def succeeded(self) -> None:
        if self.open_since is None:
            return
        with self._lock:
            since, self.open_since, self._trying = self.open_since, None, False
        if since is not None:
            logger.warning(
                "Redis is back after %.1f s: rate limits count in Redis again",
                time.time() - since,
            )


_breakers: dict[str, _Breaker] = {}
_breakers_lock = threading.Lock()


class FallbackRedisCache(RedisCache):
    """RedisCache that falls back to this process's memory while Redis is away.

    OPTIONS: RedisCache's (passed to redis-py's connection pool), plus
    RETRY_AFTER_S, the seconds between tries while Redis is away.
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        retry_after_s = float(options.pop("RETRY_AFTER_S", 1.0))
        super().__init__(server, {**params, "OPTIONS": options})
        # Django makes a cache object per thread and async context: the
        # breaker is the process's, and so is LocMemCache's store (by name).
        with _breakers_lock:
            self.breaker = _breakers.setdefault(server, _Breaker(retry_after_s))
            self.breaker.retry_after_s = retry_after_s
        self.local = LocMemCache(f"fallback:{server}", {})

    @property
    def degraded(self) -> bool:
        """Whether calls are being served from this process's memory."""
        return self.breaker.open_since is not None

    def _either(self, remote: Callable[[], T], local: Callable[[], T]) -> T:
        if self.breaker.allows():
            try:
                result = remote()
            except UNREACHABLE as exc:
                self.breaker.failed(exc)
            except Exception:  # Redis answered, with an error of the call's
                self.breaker.succeeded()
                raise
            else:
                self.breaker.succeeded()
                return result
        metrics.cache_fallback_calls.inc()
        return local()

    # Every call RedisCache makes to Redis (BaseCache builds the rest on them).
    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return self._either(
            lambda: RedisCache.add(self, key, value, timeout, version),
            lambda: self.local.add(key, value, timeout, version),
        )

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._either(
            lambda: RedisCache.get(self, key, default, version),
            lambda: self.local.get(key, default, version),
        )

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        self._either(
            lambda: RedisCache.set(self, key, value, timeout, version),
            lambda: self.local.set(key, value, timeout, version),
        )

    def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return self._either(
            lambda: RedisCache.touch(self, key, timeout, version),
            lambda: self.local.touch(key, timeout, version),
        )

    def delete(self, key: Any, version: Any = None) -> bool:
        return self._either(
            lambda: RedisCache.delete(self, key, version),
            lambda: self.local.delete(key, version),
        )

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        return self._either(
            lambda: RedisCache.get_many(self, keys, version),
            lambda: self.local.get_many(keys, version),
        )

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self._either(
            lambda: RedisCache.has_key(self, key, version),
            lambda: self.local.has_key(key, version),
        )

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return self._either(
            lambda: RedisCache.incr(self, key, delta, version),
            lambda: self.local.incr(key, delta, version),
        )

    def set_many(
        self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        return self._either(
            lambda: RedisCache.set_many(self, data, timeout, version),
            lambda: self.local.set_many(data, timeout, version),
        )

    def delete_many(self, keys: Any, version: Any = None) -> None:
        self._either(
            lambda: RedisCache.delete_many(self, keys, version),
            lambda: self.local.delete_many(keys, version),
        )

    def ping(self) -> None:
        """Ask Redis whether it is there (the breaker learns the answer)."""
        self._either(lambda: self._cache.get_client(write=True).ping(), lambda: None)

    def clear(self) -> None:
        self.local.clear()
        self._either(lambda: RedisCache.clear(self), lambda: None)


def cache_state() -> CacheState:
    """How the rate limits count, for /api/ready: "redis", "degraded" (Redis
    is away: this process counts alone) or "local" (no Redis configured).

    Sync: it asks Redis (one PING, unless the breaker is open).
    """
    backend = caches["default"]
    if not isinstance(backend, FallbackRedisCache):
        return "local"
    backend.ping()
    return "degraded" if backend.degraded else "redis"
