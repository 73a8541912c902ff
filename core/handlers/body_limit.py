"""A request body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused while it streams in.

Django's handler would spool the whole body, to memory or disk, before any
size check. A declared Content-Length over the limit is refused before
reading; a chunked body once the bytes read pass it (by at most one chunk).
"""

from typing import Any


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
