"""Every limit on clients: Ninja's rate limits, and the brute-force limits.

One module for all the limiters, as they share their counting (fixed windows
in the cache, count_in_window). Over 300 lines for that reason.

Rate limits: Ninja's throttles, counted in fixed windows, off the event loop.

Ninja checks an async operation's throttles synchronously on the event loop,
after authentication. With the counters in Redis (REDIS_URL, shared by every
server process) that is a blocking network round trip per request, holding
up every other request of the process. Here an async operation
(ChecksOffTheLoop) counts on a thread instead: the bearer auth counts the
throttles due while it is on the request's thread for the token lookup
anyway (users/authentication.py), so an API call makes no extra trip; an
anonymous or session request makes one. With the counters in process memory
(no REDIS_URL) counting stays on the loop, where it costs less than a trip.

Brute-force limits (FailureLimiter): failed tokens per address, log-ins per
address and failed log-ins per account. Ninja's throttles run after
authentication, so failed authentications are limited before it
(users/authentication.py and the admin's log-in call these).
"""

import functools
import hashlib
import logging
import math
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from ninja.errors import Throttled
from ninja.operation import AsyncOperation
from ninja.throttling import (
    AnonRateThrottle,
    AuthRateThrottle,
    BaseThrottle,
    SimpleRateThrottle,
)

from core.client_ip import client_ip
from core.db.calls import db_call


def in_window(key: str, window: int) -> tuple[str, float]:
    """The cache key of `key`'s current fixed window of `window` seconds, and
    the seconds left in that window."""
    now = time.time()
    slot = int(now // window)
    return f"{key}:{slot}", (slot + 1) * window - now


def count_in_window(key: str, window: int) -> tuple[int, float]:
    """Count one event under `key` in the current fixed window of `window` seconds.

    Return the count so far and the seconds left in the window. One atomic
    increment in the common case (Redis INCR), whatever the rate.
    """
    key, left = in_window(key, window)
    try:
        count = cache.incr(key)
    except ValueError:  # the window's first event
        count = 1 if cache.add(key, 1, timeout=window + 1) else cache.incr(key)
    return count, left


_IN_PROCESS = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)


def counts_on_loop() -> bool:
    """Whether counting is cheap enough for the event loop: the cache lives
    in this process (no network round trip). Read from settings: asking
    `caches` costs an asgiref Local lookup, 3 % of a GET's CPU (#6)."""
    return settings.CACHES["default"]["BACKEND"] in _IN_PROCESS


_PARSER = SimpleRateThrottle("1/s")


@functools.lru_cache(maxsize=32)
def _parsed_rate(rate: str) -> tuple[int | None, int | None]:
    """Ninja's parse_rate, once per rate string (settings may change in tests)."""
    return _PARSER.parse_rate(rate)


# What a throttle found for the request it last judged on this thread: Ninja
# asks allow_request() and then wait() of the same (shared) throttle object.
_last = threading.local()


class _RateFromSettings:
    """Ninja's throttles, counting in fixed windows, at the rate in settings.

    Ninja's own keep a log of every request's time in the cache and rewrite
    it on each request: a cost that grows with the rate, and a read-then-write
    that concurrent processes can undercount. Here each request is one atomic
    increment of the current window's counter (count_in_window). A client can
    get up to twice the rate across a window's edge; the rate is read from
    settings on each request, so operators and tests can change it.
    """

    rate_setting: str

    def judge(self, request: HttpRequest) -> tuple[bool, float | None]:
        """Count the request; whether it is allowed and, if not, the seconds to wait."""
        limit, window = _parsed_rate(getattr(settings, self.rate_setting))
        key = self.get_cache_key(request)  # type: ignore[attr-defined]
        if key is None or limit is None or window is None:
            return True, None
        count, left = count_in_window(key, window)
        return count <= limit, left

    def allow_request(self, request: HttpRequest) -> bool:
        counted: dict[BaseThrottle, tuple[bool, float | None]] = getattr(
            request, "throttles_counted", {}
        )
        verdict = counted.get(self)  # type: ignore[call-overload]
        if verdict is None:
            verdict = self.judge(request)
        allowed, _last.wait = verdict
        return bool(allowed)

    def wait(self) -> float | None:
        return getattr(_last, "wait", None)


class AnonThrottle(_RateFromSettings, AnonRateThrottle):
    rate_setting = "API_THROTTLE_ANON"


class _PerUser(_RateFromSettings, AuthRateThrottle):
    """Counted per user id: Ninja's key hashes str(request.auth) with SHA-256
    on every request (1.5 % of a utility call's CPU, #16)."""

    def get_cache_key(self, request: HttpRequest) -> str:
        user = getattr(request, "auth", None)
        if user is None:
            return super().get_cache_key(request)
        return f"throttle_{self.scope}_user:{user.pk}"


class UserThrottle(_PerUser):
    rate_setting = "API_THROTTLE_USER"


class JobThrottle(_PerUser):
    rate_setting = "API_THROTTLE_JOBS"
    scope = "jobs"


# The rates given here are placeholders: each request reads them from settings.
api_throttles: list[BaseThrottle] = [AnonThrottle("1/s"), UserThrottle("1/s")]


def count_due(request: HttpRequest) -> None:
    """Count the throttles ChecksOffTheLoop left to count (on a thread, once
    request.auth is known); Ninja's check then reads the results."""
    due: list[BaseThrottle] = getattr(request, "throttles_due", [])
    if not due:
        return
    request.throttles_counted = {  # type: ignore[attr-defined]
        throttle: throttle.judge(request)
        for throttle in due
        if isinstance(throttle, _RateFromSettings)
    }
    request.throttles_due = []  # type: ignore[attr-defined]


class ChecksOffTheLoop(AsyncOperation):
    """An async operation whose throttles are counted off the event loop.

    Ninja's AsyncOperation._run_checks(), but a throttle check that would
    talk to a shared cache runs on the request's thread (core.db.calls.db_call),
    unless the authentication already counted it there (count_due).
    """

    async def _run_checks(self, request: HttpRequest) -> HttpResponse | None:  # type: ignore[override]
        if self.csrf_exempt:
            request._ninja_csrf_exempt = True  # type: ignore[attr-defined]
        off_loop = bool(self.throttle_objects) and not counts_on_loop()
        if off_loop:
            request.throttles_due = self.throttle_objects  # type: ignore[attr-defined]
        if self.auth_callbacks:
            error = await self._run_authentication(request)
            if error:
                return error
        if not self.throttle_objects:
            return None
        if off_loop and getattr(request, "throttles_due", None):
            return await db_call(self._check_throttles)(request)
        return self._check_throttles(request)


def count_off_the_loop(operations: Any) -> None:
    """Make Ninja's async operations ChecksOffTheLoop (before the API's URLs
    are built: mounting a router copies its operations, class included)."""
    for operation in operations:
        if type(operation) is AsyncOperation:
            operation.__class__ = ChecksOffTheLoop


security_log = logging.getLogger("security")


class FailureLimiter:
    """Count events per client in the cache, in fixed windows; refuse past the limit.

    `rate_setting` names a setting like "10/m". The counters live in Django's
    cache: local memory by default, Redis when REDIS_URL is set, so several
    server processes share one limit.
    """

    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def __init__(self, scope: str, rate_setting: str) -> None:
        self.scope = scope
        self.rate_setting = rate_setting

    def _rate(self) -> tuple[int, int]:
        count, _, unit = str(getattr(settings, self.rate_setting)).partition("/")
        return int(count), self._UNITS[unit[:1]]

    def _key(self, ident: str) -> str:
        return f"limit:{self.scope}:{ident}"

    def retry_after_sync(self, ident: str) -> int | None:
        """Return the seconds to wait if `ident` is over the limit, else None."""
        limit, window = self._rate()
        key, left = in_window(self._key(ident), window)
        if (cache.get(key) or 0) >= limit:
            return max(1, math.ceil(left))
        return None

    def hit_sync(self, ident: str) -> None:
        """Count one event for `ident`."""
        _, window = self._rate()
        count_in_window(self._key(ident), window)


failed_auth = FailureLimiter("failed-auth", "API_THROTTLE_FAILED_AUTH")
# The API's and the admin's log-ins: every attempt, per client address; and
# failed attempts per account, whatever the address (#16).
login_limiter = FailureLimiter("login", "API_THROTTLE_LOGIN")
login_account_limiter = FailureLimiter("login-account", "API_THROTTLE_LOGIN_ACCOUNT")


def account_ident(email: str) -> str:
    """The per-account counter's name for an email, known or not: normalised
    as the login finds it (case-insensitive), and hashed, so that no address
    sits in the cache."""
    normal = email.strip().lower().encode("utf-8", "surrogatepass")
    return hashlib.sha256(normal).hexdigest()[:32]


def login_wait_sync(request: HttpRequest, email: str) -> int | None:
    """Count a log-in attempt from the client's address; return the seconds
    to wait if the address or the account is over its limit, else None.

    An unknown email is limited as a known one is, so a 429 reveals nothing.
    """
    ip = client_ip(request)
    for limiter, ident in (
        (login_limiter, ip),
        (login_account_limiter, account_ident(email)),
    ):
        wait = limiter.retry_after_sync(ident)
        if wait is not None:
            security_log.warning(
                "throttled scope=%s ip=%s path=%s", limiter.scope, ip, request.path
            )
            return wait
    login_limiter.hit_sync(ip)
    return None


def login_failed_sync(request: HttpRequest, email: str) -> None:
    """Count a failed log-in against the account, and log it."""
    login_account_limiter.hit_sync(account_ident(email))
    security_log.warning("login failed ip=%s path=%s", client_ip(request), request.path)


def check_not_blocked_sync(limiter: FailureLimiter, request: HttpRequest) -> None:
    """Raise Throttled (429) if the client is over `limiter`'s limit."""
    ip = client_ip(request)
    wait = limiter.retry_after_sync(ip)
    if wait is not None:
        security_log.warning(
            "throttled scope=%s ip=%s path=%s", limiter.scope, ip, request.path
        )
        raise Throttled(wait)
