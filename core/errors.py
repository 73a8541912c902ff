"""The one error shape of the API, and the handlers that produce it.

Every 4xx and 5xx answer under /api/ is a `Problem`: RFC 9457 problem
details (`application/problem+json`: `type`, `title`, `status`, `detail`),
with the earlier shape's `code` and `errors` kept as extension members. Ours
(`ApiError`), Ninja's (validation, unparsable bodies, 405), Django's (404,
a disallowed Host, 500) and the body limit's 413 all come from
problem_response(): nothing else builds an error body.

(Over 300 lines: #19 asks for one place that builds every error body;
the shape, the errors and their handlers read together.)
"""

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

import psycopg_pool
from django import db
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import bad_request, page_not_found, server_error
from ninja import NinjaAPI, Schema
from ninja.errors import (
    AuthenticationError,
    AuthorizationError,
    HttpError,
    Throttled,
    ValidationError,
)
from pydantic import Field

from core.client_ip import client_ip
from core.parsing import NestingTooDeep, NotJSON

logger = logging.getLogger(__name__)
security_log = logging.getLogger("security")


class ErrorItem(Schema):
    """Where one value of the request is wrong, and why."""

    loc: list[str | int]
    msg: str
    type: str


PROBLEM_CONTENT_TYPE = "application/problem+json"

# RFC 9110's reason phrases. Python's HTTPStatus renamed some between
# versions (422: Entity in 3.11, Content in 3.13), and a problem's title
# must not change with the interpreter.
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem_type(code: str) -> str:
    """The problem type URI of `code`: stable, one per code (RFC 9457 3.1.1).

    A tag URI (RFC 4151): an identifier, not a page to fetch; docs/api.md's
    *Errors* section lists every code.
    """
    return f"tag:ninja-service,2026:problem:{code}"


class Problem(Schema):
    """Every error answer: RFC 9457 problem details, with `code` and `errors`."""

    type: str = Field(description="The problem type: a URI, one per `code`.")
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What went wrong, in a sentence for people.")
    code: str = Field(description="The problem type as a stable word for programs.")
    errors: list[ErrorItem] | None = Field(
        None, description="Where the request is invalid, and why (422)."
    )


class ApiError(Exception):
    """A domain error with a fixed status, a stable `code` and a `detail`."""

    status_code: int = 400
    code: str = "bad_request"
    detail: str = "Bad request."
    headers: Mapping[str, str] = {}
    errors: list[dict[str, Any]] | None = None

    def __init__(
        self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None
    ) -> None:
        if detail is not None:
            self.detail = detail
        if errors is not None:
            self.errors = errors
        super().__init__(self.detail)


class InvalidInput(ApiError):
    """Values a service refuses (422), each located as a schema error is:
    `{"loc": ["body", field], "msg": ..., "type": ...}`."""

    status_code = 422
    code = "invalid"
    detail = "Invalid request."


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "too_large"
    detail = "The request body is too large."


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
    detail = "Not found."


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"
    detail = "You may not do this."


class DatabaseUnavailable(ApiError):
    status_code = 503
    code = "database_unavailable"
    detail = "The database is unavailable or busy; retry after `Retry-After` seconds."
    headers = {"Retry-After": "2"}


class NotReady(ApiError):
    status_code = 503
    code = "not_ready"
    detail = "Not ready to serve requests."
    headers = {"Retry-After": "5"}


# What the database layer raises when it cannot serve the request: the server
# is down or restarting, the pool had no connection within its timeout, or a
# query ran past the statement timeout. Django wraps psycopg's errors (the
# pool's included) in its own OperationalError and InterfaceError.
DATABASE_DOWN_ERRORS: tuple[type[Exception], ...] = (
    db.OperationalError,
    db.InterfaceError,
    psycopg_pool.PoolTimeout,
    psycopg_pool.TooManyRequests,
)


_HTTP_ERROR_CODES = {
    400: "malformed",
    401: "unauthenticated",
    403: "forbidden",
    429: "throttled",
}
_HTTP_ERROR_DETAILS = {
    401: "Authentication required: send a valid bearer token or log in.",
    403: "You may not do this.",
    429: "Too many requests; retry after `Retry-After` seconds.",
}


def error_responses(*codes: int) -> dict[int, type[Problem]]:
    """Return a `response=` mapping that documents `codes` as `Problem`."""
    return dict.fromkeys(codes, Problem)


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    errors: Iterable[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return a `Problem` as a dict."""
    return {
        "type": problem_type(code),
        "title": TITLES.get(status) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": None if errors is None else [dict(e) for e in errors],
    }


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    errors: Iterable[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """The answer to every error: a `Problem`, as application/problem+json."""
    body = problem_body(status=status, code=code, detail=detail, errors=errors)
    response = HttpResponse(
        json.dumps(body), content_type=PROBLEM_CONTENT_TYPE, status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def api_error_response(exc: "ApiError") -> HttpResponse:
    """The answer to an ApiError."""
    return problem_response(
        status=exc.status_code,
        code=exc.code,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
    )


def _validation_items(exc: ValidationError) -> list[dict[str, Any]]:
    """Return pydantic's errors as `ErrorItem`s, located as the client sees them.

    Ninja locates a body field under the handler's parameter name
    (`["body", "payload", "age"]`); the client never saw that name.
    """
    items = []
    for error in exc.errors:
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        if len(loc) > 2 and loc[0] == "body":
            del loc[1]
        items.append({"loc": loc, "msg": str(error["msg"]), "type": str(error["type"])})
    return items


def _log_denial(request: HttpRequest) -> None:
    user = getattr(request, "auth", None)
    security_log.warning(
        "permission denied user=%s ip=%s %s %s",
        getattr(user, "pk", None),
        client_ip(request),
        request.method,
        request.path,
    )


def install(api: NinjaAPI) -> None:
    """Make `api` answer every error with a `Problem`."""

    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        if exc.status_code == 403:
            _log_denial(request)
        return api_error_response(exc)

    def on_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return api_error_response(PayloadTooLarge())

    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return problem_response(
            status=422,
            code="invalid",
            detail="Invalid request.",
            errors=_validation_items(exc),
        )

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, NotJSON):  # Ninja wraps parser errors in a 400
            detail = "Send the body as JSON, with `Content-Type: application/json`."
            return problem_response(
                status=415, code="unsupported_media_type", detail=detail
            )
        if isinstance(exc.__cause__, NestingTooDeep):
            detail = f"The body nests lists and objects deeper than {settings.API_MAX_JSON_DEPTH} levels."
            return problem_response(status=422, code="too_deep", detail=detail)
        code = _HTTP_ERROR_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = _HTTP_ERROR_DETAILS.get(exc.status_code, str(exc))
        if isinstance(exc, AuthorizationError):
            detail = str(exc) if str(exc) != "Forbidden" else detail
        headers = {}
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
        if isinstance(exc, Throttled):  # documented on every 429
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait or 1)))
        return problem_response(
            status=exc.status_code, code=code, detail=detail, headers=headers
        )

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return api_error_response(NotFound())

    def on_database_down(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.warning(
            "Database unavailable on %s %s: %s", request.method, request.path, exc
        )
        return api_error_response(DatabaseUnavailable())

    def on_exception(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.error(
            "Unhandled error on %s %s", request.method, request.path, exc_info=exc
        )
        return _server_error()

    handlers: dict[type[Exception], Callable[[HttpRequest, Any], HttpResponse]] = {
        ApiError: on_api_error,
        ValidationError: on_validation_error,
        HttpError: on_http_error,
        Http404: on_not_found,
        RequestDataTooBig: on_too_large,
        **dict.fromkeys(DATABASE_DOWN_ERRORS, on_database_down),
        Exception: on_exception,
    }
    for exc_class, handler in handlers.items():
        api.add_exception_handler(exc_class, handler)


def _server_error() -> HttpResponse:
    return problem_response(
        status=500, code="server_error", detail="Internal server error."
    )


def method_not_allowed(allowed: Iterable[str]) -> HttpResponse:
    """405, with the methods the path answers in `Allow` (RFC 9110 15.5.6)."""
    return problem_response(
        status=405,
        code="method_not_allowed",
        detail="This path does not answer this method; see `Allow`.",
        headers={"Allow": ", ".join(sorted(allowed))},
    )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # a POST to no route is a 404, not a CSRF failure
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any /api/ path no route matches, in debug as in production (the
    debug 404 page would otherwise answer it)."""
    return api_error_response(NotFound())


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 (a Host outside ALLOWED_HOSTS, another suspicious
    request): a Problem under /api/, HTML elsewhere."""
    if not _is_api(request):
        return bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        detail = "This server does not answer to that host name."
        return problem_response(status=400, code="disallowed_host", detail=detail)
    return problem_response(status=400, code="bad_request", detail="Bad request.")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for URLs no route matches: a Problem under /api/, HTML elsewhere."""
    if _is_api(request):
        return api_error_response(NotFound())
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's last-resort 500: a Problem under /api/, HTML elsewhere."""
    if _is_api(request):
        return _server_error()
    return server_error(request)
