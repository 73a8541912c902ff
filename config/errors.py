"""The one error shape of the API, and the handlers that produce it.

Every 4xx and 5xx answer under /api/ is an `ErrorOut`: ours (`ApiError`),
Ninja's (validation, unparsable bodies), Django's 404 and unexpected errors.
Nothing else builds error bodies.
"""

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg_pool
from django import db
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found, server_error
from ninja import NinjaAPI, Schema
from ninja.errors import (
    AuthenticationError,
    AuthorizationError,
    HttpError,
    Throttled,
    ValidationError,
)

from config.clients import client_ip
from config.parser import NestingTooDeep, NotJSON

logger = logging.getLogger(__name__)
security_log = logging.getLogger("security")


class ErrorItem(Schema):
    """Where one value of the request is wrong, and why."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(Schema):
    """The body of every error answer."""

    detail: str
    code: str
    errors: list[ErrorItem] | None = None


class ApiError(Exception):
    """A domain error with a fixed status, a stable `code` and a `detail`."""

    status_code: int = 400
    code: str = "bad_request"
    detail: str = "Bad request."
    headers: Mapping[str, str] = {}

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


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


def error_responses(*codes: int) -> dict[int, type[ErrorOut]]:
    """Return a `response=` mapping that documents `codes` as `ErrorOut`."""
    return dict.fromkeys(codes, ErrorOut)


def error_body(
    *, detail: str, code: str, errors: Iterable[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Return an `ErrorOut` as a dict (for handlers outside Ninja's renderer)."""
    out = ErrorOut(
        detail=detail,
        code=code,
        errors=None if errors is None else [ErrorItem(**e) for e in errors],
    )
    return out.model_dump()


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
    """Make `api` answer every error with an `ErrorOut`."""

    def respond(
        request: HttpRequest, status: int, body: dict[str, Any]
    ) -> HttpResponse:
        return api.create_response(request, body, status=status)

    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        if exc.status_code == 403:
            _log_denial(request)
        body = error_body(detail=exc.detail, code=exc.code)
        response = respond(request, exc.status_code, body)
        for name, value in exc.headers.items():
            response[name] = value
        return response

    def on_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return on_api_error(request, PayloadTooLarge())

    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        body = error_body(
            detail="Invalid request.", code="invalid", errors=_validation_items(exc)
        )
        return respond(request, 422, body)

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, NotJSON):  # Ninja wraps parser errors in a 400
            detail = "Send the body as JSON, with `Content-Type: application/json`."
            body = error_body(detail=detail, code="unsupported_media_type")
            return respond(request, 415, body)
        if isinstance(exc.__cause__, NestingTooDeep):
            detail = f"The body nests lists and objects deeper than {settings.API_MAX_JSON_DEPTH} levels."
            return respond(request, 422, error_body(detail=detail, code="too_deep"))
        code = _HTTP_ERROR_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = _HTTP_ERROR_DETAILS.get(exc.status_code, str(exc))
        if isinstance(exc, AuthorizationError):
            detail = str(exc) if str(exc) != "Forbidden" else detail
        response = respond(
            request, exc.status_code, error_body(detail=detail, code=code)
        )
        if isinstance(exc, AuthenticationError):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        if isinstance(exc, Throttled) and exc.wait is not None:
            response["Retry-After"] = str(max(1, math.ceil(exc.wait)))
        return response

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return on_api_error(request, NotFound())

    def on_database_down(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.warning(
            "Database unavailable on %s %s: %s", request.method, request.path, exc
        )
        return on_api_error(request, DatabaseUnavailable())

    def on_exception(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.error(
            "Unhandled error on %s %s", request.method, request.path, exc_info=exc
        )
        body = error_body(detail="Internal server error.", code="server_error")
        return respond(request, 500, body)

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


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for URLs no route matches: JSON under /api/, HTML elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body(detail="Not found.", code="not_found"), status=404
        )
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's last-resort 500: JSON under /api/, HTML elsewhere."""
    if _is_api(request):
        body = error_body(detail="Internal server error.", code="server_error")
        return JsonResponse(body, status=500)
    return server_error(request)
