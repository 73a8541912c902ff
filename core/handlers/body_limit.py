"""A request body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused while it streams in.

Django's handler would spool the whole body, to memory or disk, before any
size check. A declared Content-Length over the limit is refused before
reading; a chunked body once the bytes read pass it (by at most one chunk).
BodyLimit wraps either handler (config/asgi.py): it is a behaviour, kept on
and off the fast path.
"""

from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from core.errors import PayloadTooLarge, api_error_response
from core.request_log import request_id_from


class BodyTooLarge(Exception):
    """The request body is over the limit: answer 413 without reading on."""


def limited(receive: Any, scope: Any, limit: int | None) -> Any:
    """`receive`, raising BodyTooLarge once the body passes `limit` bytes."""
    if limit is None:
        return receive
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge()
    read = 0

    async def limited_receive() -> Any:
        nonlocal read
        message = await receive()
        read += len(message.get("body", b""))
        if read > limit:
            raise BodyTooLarge()
        return message

    return limited_receive


class BodyLimit:
    """An ASGI app: `handler`, answering 413 to a body over the limit."""

    def __init__(self, handler: ASGIHandler) -> None:
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.handler(scope, receive, send)  # Django refuses it
            return
        try:
            receive = limited(receive, scope, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            await self.handler(scope, receive, send)
        except BodyTooLarge:
            too_large = api_error_response(PayloadTooLarge())
            too_large["Connection"] = "close"  # the rest of the body is not read
            # Refused before the middleware: give it the id they would have.
            sent = dict(scope.get("headers", ())).get(b"x-request-id", b"")
            too_large["X-Request-ID"] = request_id_from(sent.decode("latin-1"))
            await self.handler.send_response(too_large, send)
