"""Request ids and the access log: one line per request.

`X-Request-ID` is taken from the client when it is well formed (a proxy or a
caller tracing its own calls), generated otherwise; it is returned in the
response, bound to every log line of the request (core/logs.py) and kept on
utility jobs the request submits.
"""

import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from core import metrics

access_log = logging.getLogger("request")

# Platform probes call these every few seconds: log them only when they fail.
QUIET_ROUTES = frozenset({"/api/health", "/api/ready"})

_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class _Ids:
    """32 hex digits: 64 random bits per process, then a counter.

    Unique without a call to the OS's random source per request (uuid4 was
    ~7 % of a point GET's samples, and it lets go of the GIL on the loop).
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _Ids()


def request_id_from(header: str | None) -> str:
    """The client's id when well formed, else a new one."""
    if header and _WELL_FORMED.fullmatch(header):
        return header
    return _ids.next()


def current_request_id() -> str | None:
    """The id of the request being served, if any (for jobs it submits)."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None


def _user_id(request: HttpRequest) -> Any:
    # The API's user (Ninja sets request.auth), or the admin's when its lazy
    # user has been loaded already: reading request.user here would query.
    user = getattr(request, "auth", None) or getattr(request, "_cached_user", None)
    return getattr(user, "pk", None)


class RequestLogMiddleware:
    sync_capable = False
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]
    ) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = await self.get_response(request)
            response["X-Request-ID"] = request_id
            match = request.resolver_match
            route = f"/{match.route}" if match else None
            duration = time.perf_counter() - started
            series = (request.method, route or "unmatched")
            metrics.requests_total.labels(*series, response.status_code).inc()
            metrics.request_duration.labels(*series).observe(duration)
            if route in QUIET_ROUTES and response.status_code < 400:
                return response
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                    "user_id": _user_id(request),
                },
            )
        return response
