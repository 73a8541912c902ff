"""Who is calling: bearer tokens, sessions, the client's address, brute-force limits.

Ninja runs auth callbacks in order and stops at the first that answers or
raises. Bearer comes first and never needs a CSRF token; the session
callback checks CSRF only once it has found a logged-in user, so an
anonymous request gets 401, not 403. Ninja's throttles run after
authentication, so failed authentications are limited here, before it;
the throttles themselves are in config/throttles.py.
"""

import hashlib
import logging
import math
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError, Throttled
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from config.clients import client_ip
from config.db import db_call
from config.throttles import count_due, count_in_window, counts_on_loop, in_window
from users import tokens
from users.models import ApiToken, User

security_log = logging.getLogger("security")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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


class BearerAuth(HttpBearer):
    """`Authorization: Bearer <token>`: an API token, checked against its digest."""

    async def authenticate(self, request: HttpRequest, token: str) -> User | None:
        api_token = tokens.token_verified(token)
        if api_token is None:
            # One trip to the request's thread for the limit, the lookup and the count.
            api_token = await db_call(self._check)(request, token)
        elif counts_on_loop():  # verified moments ago: no trip at all
            self._admit(request, api_token)
        else:  # the limits' counters are in Redis: one trip, no query
            await db_call(self._admit)(request, api_token)
        request.api_token = api_token  # type: ignore[attr-defined]  # for DELETE /tokens/current
        return api_token.user

    @staticmethod
    def _check(request: HttpRequest, token: str) -> ApiToken:
        """On the request's thread: the failure limit, the token lookup, and
        the rate limits' counts (config/throttles.py), in one trip."""
        check_not_blocked_sync(failed_auth, request)
        api_token = tokens.token_authenticate(token)
        if api_token is None:
            ip = client_ip(request)
            failed_auth.hit_sync(ip)
            security_log.warning(
                "auth failed kind=token ip=%s path=%s", ip, request.path
            )
            raise AuthenticationError()  # a bad token is an answer: no session fallback
        BearerAuth._count(request, api_token)
        return api_token

    @staticmethod
    def _admit(request: HttpRequest, api_token: ApiToken) -> None:
        """A token verified moments ago: the failure limit still applies to
        its address, and the request counts toward the rate limits."""
        check_not_blocked_sync(failed_auth, request)
        BearerAuth._count(request, api_token)

    @staticmethod
    def _count(request: HttpRequest, api_token: ApiToken) -> None:
        request.auth = api_token.user  # type: ignore[attr-defined]  # as Ninja will, for the counts
        count_due(request)


class SessionAuth(APIKeyCookie):
    """The admin's session, for the browser; unsafe methods need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # Ninja would check CSRF here, before knowing whether there is a
        # session at all; authenticate() checks it once a user is found. The
        # `csrf` flag stays on, so /api/docs sends the token.
        return request.COOKIES.get(self.param_name)

    async def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not key:
            return None
        user = await request.auser()
        if isinstance(user, AnonymousUser) or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request):
            security_log.warning(
                "csrf failed user=%s ip=%s path=%s",
                user.pk,
                client_ip(request),
                request.path,
            )
            raise AuthorizationError(403, "CSRF check failed.")
        return user


api_auth = [BearerAuth(), SessionAuth()]


def bearer_staff_sync(request: HttpRequest) -> bool:
    """Whether the request carries a staff member's bearer token (for the docs,
    config/docs.py). Sync; a wrong token counts toward the failed-token limit,
    and a client over that limit is refused whatever it sends."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    ip = client_ip(request)
    if failed_auth.retry_after_sync(ip) is not None:
        return False
    api_token = tokens.token_authenticate(token.strip())
    if api_token is None:
        failed_auth.hit_sync(ip)
        security_log.warning("auth failed kind=token ip=%s path=%s", ip, request.path)
        return False
    return bool(api_token.user.is_active and api_token.user.is_staff)


def actor(request: HttpRequest) -> User:
    """Return the authenticated user of a request that passed the API's auth."""
    return cast(User, request.auth)  # type: ignore[attr-defined]  # set by Ninja
