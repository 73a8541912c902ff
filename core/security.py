"""Brute-force limits: failed tokens and log-ins, per address and per account.

Ninja's throttles run after authentication, so failed authentications are
limited here, before it (users/authentication.py calls these); the
throttles themselves are in core/throttles.py.
"""

import hashlib
import logging
import math

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.errors import Throttled

from core.client_ip import client_ip
from core.throttles import count_in_window, in_window

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

    async def hit(self, ident: str) -> None:
        """See hit_sync()."""
        await sync_to_async(self.hit_sync)(ident)


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


async def check_not_blocked(limiter: FailureLimiter, request: HttpRequest) -> None:
    """See check_not_blocked_sync()."""
    await sync_to_async(check_not_blocked_sync)(limiter, request)
