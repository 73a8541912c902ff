"""Who is calling: bearer tokens and the admin's session, for the API.

Ninja runs auth callbacks in order and stops at the first that answers or
raises. Bearer comes first and never needs a CSRF token; the session
callback checks CSRF only once it has found a logged-in user, so an
anonymous request gets 401, not 403. Failed tokens count toward
core/throttling.py's limit before the lookup.
"""

import logging
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from core.client_ip import client_ip
from core.db.calls import db_call
from core.throttling import (
    check_not_blocked_sync,
    count_due,
    counts_on_loop,
    failed_auth,
)
from users import tokens
from users.models import ApiToken, User

security_log = logging.getLogger("security")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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
        the rate limits' counts (core/throttling.py), in one trip."""
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
    core/docs_access.py). Sync; a wrong token counts toward the failed-token limit,
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
