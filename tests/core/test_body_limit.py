"""Oversized bodies are refused with 413 while they stream in (core/handlers/body_limit.py).

Raw ASGI calls, so the test sees how much of the body the server read.
"""

import json
from collections.abc import Mapping
from typing import Any

import pytest
from pytest_django import Settings

LIMIT = 100_000
CHUNK = 65_536


async def _post(
    chunks: int, content_length: int | None
) -> tuple[int, dict[str, Any], int]:
    """POST `chunks` chunks of CHUNK bytes; return status, JSON body, bytes read."""
    from config.asgi import application

    sent = 0
    answer: dict[str, Any] = {}
    body = b""

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent < chunks:
            sent += 1
            return {
                "type": "http.request",
                "body": b"x" * CHUNK,
                "more_body": sent < chunks,
            }
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        nonlocal body
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            body += message.get("body", b"")

    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "POST", "scheme": "https", "path": "/api/users",
        "raw_path": b"/api/users", "query_string": b"", "root_path": "",
        "headers": headers, "server": ("testserver", 443), "client": ("127.0.0.1", 1234),
    }  # fmt: skip
    await application(scope, receive, send)
    return answer["status"], json.loads(body), sent * CHUNK


@pytest.fixture(autouse=True)
def _small_limit(settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT


async def test_declared_oversized_body_is_refused_before_reading() -> None:
    """A Content-Length over the limit: 413 at once, not a byte of the body read."""
    status, body, read = await _post(chunks=1000, content_length=1000 * CHUNK)

    assert status == 413
    assert body["code"] == "too_large"
    assert read == 0


@pytest.mark.asyncio
async def test_chunked_oversized_body_is_refused_as_it_streams() -> None:
    """No Content-Length (chunked): 413 once past the limit, by at most one chunk."""
    status, body, read = await _post(chunks=1000, content_length=None)

    assert status == 413
    assert body["code"] == "too_large"
    assert read <= LIMIT + CHUNK


async def test_lying_content_length_is_caught_too() -> None:
    """A small declared length does not let a large body through."""
    status, _, read = await _post(chunks=1000, content_length=10)

    assert status == 413
    assert read <= LIMIT + CHUNK
