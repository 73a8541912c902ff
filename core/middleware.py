"""Django's own middleware, run on the event loop under ASGI (the fast path).

The OnLoop* classes serve with DJANGO_FAST_PATH on (config/settings.py);
CommonMiddleware's probe rule below serves in both modes.

Django's middleware are `MiddlewareMixin` classes whose hooks are sync: under
ASGI each hook costs a `sync_to_async` hop (a trip to the request's thread,
~50 µs of CPU), two per middleware per request. The hooks below do no I/O
(they read and set headers and cookies, resolve a URL, make lazy objects), so
these subclasses call them straight from the event loop. The one hook that can
write, saving a changed session (and messages kept in it), still goes to the
request's thread, and only when there is something to save.

A call to the API that carries no cookies (a REST client with a bearer
token, a probe) skips the session, CSRF, authentication and message hooks
(#6): without a cookie there is no session to load, no CSRF cookie to check
or renew, no session user and no stored message, so they would only make
empty objects for it. It gets the anonymous user, as the session would have
given it; it has no request.session and no message storage, so code that
wrote either on such a call would fail loudly rather than lose the write.
CSRF's process_view() still runs (the handler calls it). The docs page, a
browser page, and every path outside /api/ go through all the hooks.

The probes (GET or HEAD of /api/health and /api/ready) answer whatever their
Host header: a platform's probe names the pod's or container's address
(`Host: 10.1.2.3:8000`), which no ALLOWED_HOSTS lists. CommonMiddleware is
where Django validates the host of every request (request.get_host()); for
them it does nothing (it would also check DISALLOWED_USER_AGENTS and
PREPEND_WWW, neither set here). They build no URL from the host, so nothing
after it reads the host. Any other path or method, with a host outside
ALLOWED_HOSTS, still gets the 400 `disallowed_host` (core/errors.py).

Under WSGI the OnLoop* classes behave exactly as Django's own. CSRF_USE_SESSIONS
must stay off: with it the CSRF hooks would read the session from the database.
"""

from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import middleware as messages
from django.contrib.messages.storage import default_storage
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from django.utils.functional import SimpleLazyObject, empty

# The API's paths (config/urls.py) but its docs page, a browser page that
# may set the CSRF cookie.
_API, _API_DOCS = "/api/", "/api/docs"
# Liveness and readiness: what a platform's probes call, by the pod's address.
PROBES = frozenset({"/api/health", "/api/ready"})


def cookieless_api_call(request: HttpRequest) -> bool:
    """Whether this is a call to the API that carries no cookies."""
    path = request.path_info
    return (
        "HTTP_COOKIE" not in request.META
        and path.startswith(_API)
        and not path.startswith(_API_DOCS)
    )


class OnLoopMixin:
    """Run a MiddlewareMixin's hooks on the event loop (see the module's docstring)."""

    get_response: Any
    # Whether the middleware has nothing to do for a cookieless API call.
    cookies_only = False

    def stand_in(self, request: HttpRequest) -> None:
        """What a cookieless API call gets instead of this middleware's hooks."""

    def response_needs_thread(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> bool:
        """Whether process_response() may do I/O for this response."""
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.cookies_only and cookieless_api_call(request):
            self.stand_in(request)
            return cast(HttpResponseBase, await self.get_response(request))
        response: HttpResponseBase | None = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        if response is None:
            response = cast(HttpResponseBase, await self.get_response(request))
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await sync_to_async(self.process_response)(request, response)
            else:
                response = self.process_response(request, response)
        return response


class CommonMiddleware(common.CommonMiddleware):
    """Django's, but the probes answer whatever their Host (see above).

    A behaviour, not a shortcut: it serves on and off the fast path.
    """

    def process_request(
        self, request: HttpRequest
    ) -> HttpResponsePermanentRedirect | None:
        if request.path_info in PROBES and request.method in ("GET", "HEAD"):
            return None
        return super().process_request(request)


class OnLoopSecurityMiddleware(OnLoopMixin, security.SecurityMiddleware):
    pass


class OnLoopSessionMiddleware(OnLoopMixin, sessions.SessionMiddleware):
    cookies_only = True

    def response_needs_thread(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> bool:
        # Saving writes to the session store; anything else sets headers.
        return bool(request.session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class OnLoopCommonMiddleware(OnLoopMixin, CommonMiddleware):
    pass


class OnLoopCsrfViewMiddleware(OnLoopMixin, csrf.CsrfViewMiddleware):
    cookies_only = True  # process_view() still runs (the handler calls it)

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # The handler would hop to a thread for a sync process_view(); a
            # coroutine runs on the loop. It reads the cookie and request.POST,
            # whose body the ASGI handler has already read.
            check = self.process_view

            async def process_view(*args: Any) -> HttpResponseBase | None:
                return check(*args)

            self.process_view = process_view  # type: ignore[method-assign,assignment]


class OnLoopAuthenticationMiddleware(OnLoopMixin, auth.AuthenticationMiddleware):
    """request.user and request.auser are lazy: nothing is read here."""

    cookies_only = True

    def stand_in(self, request: HttpRequest) -> None:
        # What they would find without a session cookie (and without a session).
        request.user = AnonymousUser()
        request.auser = _anonymous


async def _anonymous() -> AnonymousUser:
    return AnonymousUser()


def _untouched(storage: object) -> bool:
    return isinstance(storage, SimpleLazyObject) and storage._wrapped is empty


class OnLoopMessageMiddleware(OnLoopMixin, messages.MessageMiddleware):
    """Make a request's message storage only when something uses it.

    Django's makes it for every request: a fallback storage with a cookie and
    a session storage and a cookie signer, ~25 µs, which the API never uses
    (#6). Untouched, it has nothing to store, as Django's would not.
    """

    cookies_only = True

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        if _untouched(getattr(request, "_messages", None)):
            return response
        return super().process_response(request, response)

    def response_needs_thread(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> bool:
        # Storing messages may load the session (the fallback storage).
        storage = getattr(request, "_messages", None)
        if storage is None or _untouched(storage):
            return False
        return bool(storage.used or storage.added_new)


class OnLoopXFrameOptionsMiddleware(OnLoopMixin, clickjacking.XFrameOptionsMiddleware):
    pass
